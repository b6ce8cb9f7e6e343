/**
 * The main tags Orthanc keeps for a study and its patient, read into the fields of StudyFacts, each
 * '' when Orthanc has none: the pipeline's facts, the CLI's study picker and the dashboard's index
 * all start from these.
 */
import type { OrthancStudy } from '../orthanc/types.js';
import type { PatientFacts, StudyFacts } from './facts.js';

/** A study's own main tags (general study module), as StudyFacts holds them. */
export type StudyMainTags = Pick<StudyFacts, 'studyInstanceUid' | 'studyDate' | 'studyTime' | 'studyId' | 'accessionNumber' | 'referringPhysicianName' | 'studyDescription'>;

/** The patient's main tags Orthanc keeps with the study (the issuer is not among them). */
export type PatientMainTags = Omit<PatientFacts, 'issuerOfPatientId'>;

/** The study's main tags. */
export function studyMainTags(study: OrthancStudy): StudyMainTags {
  const tag = (keyword: string): string => study.MainDicomTags[keyword] ?? '';
  return {
    studyInstanceUid: tag('StudyInstanceUID'),
    studyDate: tag('StudyDate'),
    studyTime: tag('StudyTime'),
    studyId: tag('StudyID'),
    accessionNumber: tag('AccessionNumber'),
    referringPhysicianName: tag('ReferringPhysicianName'),
    studyDescription: tag('StudyDescription'),
  };
}

/** The patient's main tags, as Orthanc keeps them with the study. */
export function patientMainTags(study: OrthancStudy): PatientMainTags {
  const tag = (keyword: string): string => study.PatientMainDicomTags[keyword] ?? '';
  return { patientId: tag('PatientID'), patientName: tag('PatientName'), birthDate: tag('PatientBirthDate'), sex: tag('PatientSex') };
}
