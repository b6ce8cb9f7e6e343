/**
 * The identity every output derives from. Orthanc files a study by PatientID and StudyInstanceUID,
 * so one StudyInstanceUID sent under two PatientIDs (an ID corrected and re-sent) is two Orthanc
 * studies: outputs keyed on the StudyInstanceUID alone would be shared between two patients.
 */
import type { StudyFacts } from './facts.js';

/** The parts of a study's identity that output UIDs and identifiers hash: its StudyInstanceUID and its Orthanc study ID. */
export function studyIdentity(facts: Pick<StudyFacts, 'studyInstanceUid' | 'orthancId'>): readonly [string, string] {
  return [facts.studyInstanceUid, facts.orthancId];
}
