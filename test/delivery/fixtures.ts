/** Study facts and measurements for the delivery tests that need no Orthanc. */
import { buildSet } from '../../src/measurements/parse.js';
import type { StudyFacts } from '../../src/study/facts.js';

/** A CT study whose texts hold every HL7 delimiter, and a patient named in three PN groups. */
export const FACTS: StudyFacts = {
  orthancId: 'o-study',
  studyInstanceUid: '1.2.826.0.1.3680043.8.498.1',
  studyDate: '20240115',
  studyTime: '101530.123456',
  studyId: '7',
  accessionNumber: 'ACC|42^x',
  referringPhysicianName: 'House^Gregory',
  studyDescription: 'CT Abdomen & Pelvis',
  timezoneOffsetFromUtc: '+0100',
  patient: { patientId: 'PID~7', issuerOfPatientId: 'HOSP\\A', patientName: "O'Brien-Smith|Jr^Anne&Marie^^Dr=山田^花子=やまだ^はなこ", birthDate: '19700101', sex: 'F' },
  series: [{ orthancId: 'o-series', seriesInstanceUid: '1.2.3.4', modality: 'CT', instances: [{ orthancId: 'o-i', sopInstanceUid: '1.2.3.4.1', sopClassUid: '1.2.840.10008.5.1.4.1.1.2' }] }],
};
/** 7 May 2024 08:09:10 UTC. */
export const NOW = new Date(Date.UTC(2024, 4, 7, 8, 9, 10));
/** Four volumes: sided kidneys with method and source, a total, and a name full of HL7 delimiters. */
export const SET = buildSet([
  { name: 'Right Kidney', value: '125.50 mL', method: 'manual contouring', source: 'KidneySeg 2.1' },
  { name: 'Left Kidney', value: '0.132 L' },
  { name: 'Total Volume', value: '257.5 mL' },
  { name: 'Cyst ^1|a', value: '3.2 cm3' },
]);
