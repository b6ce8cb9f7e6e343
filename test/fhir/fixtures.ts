/** Study facts and measurement sets for the FHIR tests; each variant is one shape the writer must handle. */
import { createHash } from 'node:crypto';
import type { Measurement, MeasurementSet } from '../../src/measurements/model.js';
import type { PatientFacts, StudyFacts } from '../../src/study/facts.js';

export const STUDY_UID = '1.2.826.0.1.3680043.8.498.1234567890';
export const NOW = new Date('2024-05-06T07:08:09.123Z');

/** A measurement set with a digest computed the way equal sets get equal digests. */
export function measurementSet(measurements: readonly Measurement[]): MeasurementSet {
  const canonical = JSON.stringify(measurements.map((m) => [m.name, m.valueMl, m.anatomy ?? '', m.method ?? '', m.source ?? '', m.operator ?? '']));
  return { measurements, digest: createHash('sha256').update(canonical).digest('hex') };
}

/** One measurement. */
export function volume(name: string, valueMl: string, extra: Partial<Measurement> = {}): Measurement {
  return { name, valueMl, volumeMl: Number(valueMl), ...extra };
}

export const KIDNEYS = measurementSet([
  volume('Right Kidney', '125.0', { anatomy: 'right-kidney' }),
  volume('Left Kidney', '132', { anatomy: 'left-kidney' }),
  volume('Total Kidney Volume', '257.0', { anatomy: 'both-kidneys' }),
]);

export const PATIENT: PatientFacts = {
  patientId: 'PAT-001',
  issuerOfPatientId: '1.2.3.4',
  patientName: 'Doe^Jane^Q^Dr^III',
  birthDate: '19700102',
  sex: 'F',
};

/** Facts of a CT study with the given overrides. */
export function studyFacts(overrides: Partial<StudyFacts> = {}, patient: Partial<PatientFacts> = {}): StudyFacts {
  return {
    orthancId: 'abcd-1234',
    studyInstanceUid: STUDY_UID,
    studyDate: '20240115',
    studyTime: '093012.5',
    studyId: '1',
    accessionNumber: 'ACC-42',
    referringPhysicianName: '',
    studyDescription: 'CT abdomen',
    series: [],
    ...overrides,
    patient: { ...PATIENT, ...patient },
  };
}

export const SR = {
  seriesInstanceUid: '2.25.1111',
  sopInstanceUid: '2.25.2222',
  sopClassUid: '1.2.840.10008.5.1.4.1.1.88.33',
} as const;
