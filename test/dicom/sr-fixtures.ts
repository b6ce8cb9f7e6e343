/** Studies and measurement sets for the SR tests, built inline as the pipeline would hand them over. */
import { createHash } from 'node:crypto';
import type { Measurement, MeasurementSet } from '../../src/measurements/model.js';
import type { InstanceFacts, SeriesFacts, StudyFacts } from '../../src/study/facts.js';

/** SOP classes of the fixture instances. */
export const SopClass = {
  CTImage: '1.2.840.10008.5.1.4.1.1.2',
  MRImage: '1.2.840.10008.5.1.4.1.1.4',
  SecondaryCapture: '1.2.840.10008.5.1.4.1.1.7',
  ComprehensiveSR: '1.2.840.10008.5.1.4.1.1.88.33',
} as const;

/** A series of `count` instances of one SOP class, with UIDs under the series UID. */
export function series(seriesInstanceUid: string, modality: string, sopClassUid: string, count: number): SeriesFacts {
  const instances: InstanceFacts[] = Array.from({ length: count }, (_, i) => ({
    orthancId: `instance-${seriesInstanceUid}-${i + 1}`,
    sopClassUid,
    sopInstanceUid: `${seriesInstanceUid}.${i + 1}`,
    instanceNumber: i + 1,
  }));
  return { orthancId: `series-${seriesInstanceUid}`, seriesInstanceUid, modality, instances };
}

/** A study with the given patient name and series; everything else plausible and fixed. */
export function study(studyInstanceUid: string, patientName: string, seriesList: readonly SeriesFacts[]): StudyFacts {
  return {
    orthancId: `study-${studyInstanceUid}`,
    studyInstanceUid,
    studyDate: '20230415',
    studyTime: '093012',
    studyId: 'ST1',
    accessionNumber: 'ACC-42',
    referringPhysicianName: '',
    studyDescription: 'Abdomen',
    patient: { patientId: 'PID-7', patientName, birthDate: '19640229', sex: 'F' },
    series: seriesList,
  };
}

/** A measurement in mL; `volumeMl` follows from the decimal string as the real normaliser does. */
export function volume(name: string, valueMl: string, anatomy?: Measurement['anatomy']): Measurement {
  return { name, valueMl, volumeMl: Number(valueMl), ...(anatomy ? { anatomy } : {}) };
}

/** A measurement set whose digest changes with any name, value or anatomy. */
export function measurementSet(...measurements: Measurement[]): MeasurementSet {
  const digest = createHash('sha256').update(JSON.stringify(measurements)).digest('hex');
  return { measurements, digest };
}
