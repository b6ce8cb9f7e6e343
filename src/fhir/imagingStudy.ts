/**
 * FHIR R4 ImagingStudy for the DICOM study (General Study Module, PS3.3 C.7.2.1), identified by its
 * Study Instance UID as the DICOM SR to FHIR IG does, with the SR we wrote as its one listed series.
 */
import type { Identifier, ImagingStudy, ImagingStudySeries } from '@medplum/fhirtypes';
import { isDicomUid, UID_RULE } from '../uids.js';
import type { StudyFacts } from '../study/facts.js';
import { FhirInputError } from './errors.js';
import { DICOM_UID, FHIR_CODES, URI } from './systems.js';

/**
 * The SR document this run stored in the study. All three UIDs are needed: R4 requires
 * series.uid, series.modality and instance.sopClass, so an instance UID alone cannot be listed.
 */
export interface SrReference {
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
}

/** Checks a DICOM UID (PS3.5 section 9.1) and answers it trimmed. */
export function checkUid(field: string, uid: string): string {
  const trimmed = uid.trim();
  if (!isDicomUid(trimmed)) {
    throw new FhirInputError(field, uid, `must be a DICOM UID (${UID_RULE})`);
  }
  return trimmed;
}

/** The ImagingStudy identifier `{system: urn:dicom:uid, value: urn:oid:<StudyInstanceUID>}`. */
export function studyIdentifier(studyInstanceUid: string): Identifier {
  return { system: DICOM_UID, value: `urn:oid:${checkUid('studyInstanceUid', studyInstanceUid)}` };
}

function srSeries(sr: SrReference): ImagingStudySeries {
  return {
    uid: checkUid('sr.seriesInstanceUid', sr.seriesInstanceUid),
    modality: { ...FHIR_CODES.srModality },
    numberOfInstances: 1,
    instance: [
      {
        uid: checkUid('sr.sopInstanceUid', sr.sopInstanceUid),
        sopClass: { system: URI, code: `urn:oid:${checkUid('sr.sopClassUid', sr.sopClassUid)}` },
      },
    ],
  };
}

/**
 * The study as an ImagingStudy. Only the SR series is listed: the image series are already in the
 * PACS, listing them would make the Bundle grow with the study, and a partial list is honest only
 * because `numberOfSeries` is left out.
 */
export function buildImagingStudy(
  facts: StudyFacts,
  patientUrl: string,
  started: string | undefined,
  sr: SrReference | undefined,
): ImagingStudy {
  const identifier: Identifier[] = [studyIdentifier(facts.studyInstanceUid)];
  const accession = facts.accessionNumber.trim();
  if (accession !== '') identifier.push({ type: { coding: [{ ...FHIR_CODES.accessionNumber }] }, value: accession });
  const study: ImagingStudy = {
    resourceType: 'ImagingStudy',
    identifier,
    status: 'available',
    subject: { reference: patientUrl },
  };
  if (started !== undefined) study.started = started;
  const description = facts.studyDescription.trim();
  if (description !== '') study.description = description;
  if (sr) study.series = [srSeries(sr)];
  return study;
}
