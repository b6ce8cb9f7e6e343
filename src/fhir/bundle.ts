/**
 * The FHIR R4 view of one measurement set: a `collection` Bundle holding the Patient, the
 * ImagingStudy and one Observation per measurement, linked by deterministic `urn:uuid:` fullUrls.
 * Pure: facts, measurements and the clock reading in, a Bundle out.
 */
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import type { MeasurementSet } from '../measurements/model.js';
import type { StudyFacts } from '../study/facts.js';
import { fhirInstant, studyDateTime } from './datetime.js';
import { FhirInputError } from './errors.js';
import { bundleUuid, contentUuid, uuidUrl } from './identity.js';
import { studyIdentity } from '../study/identity.js';
import { buildImagingStudy, checkUid, studyIdentifier, type SrReference } from './imagingStudy.js';
import { buildVolumeObservation, measurementUuid, type DicomSourceReference, type ObservationContext } from './observation.js';
import { buildPatient, patientIdentifier } from './patient.js';
import { KV_BUNDLE } from './systems.js';

/** The SR this run stored, re-exported so callers need only this module. */
export type { SrReference } from './imagingStudy.js';

/** Options of `buildKidneyVolumeBundle`. */
export interface KidneyVolumeBundleOptions {
  /** The clock reading written as Observation.issued; the only part of the Bundle that varies between runs. */
  readonly now: Date;
  /** The SR stored in the study by this run, listed as the ImagingStudy's series when given. */
  readonly sr?: SrReference;
  /**
   * Zone of the modality's clock, for StudyTime: an IANA name ("Europe/Berlin") or an offset
   * ("+01:00", DICOM's "+0100"). Without it effective/started carry the StudyDate only, because a
   * FHIR dateTime with a time must have a zone and DICOM's StudyTime has none.
   */
  readonly timeZone?: string;
  /** DICOM objects the volumes were read from (another system's SR, the original tool's images): each Observation is derivedFrom them. */
  readonly sources?: readonly DicomSourceReference[];
}

function entry(uuid: string, resource: Resource): BundleEntry {
  return { fullUrl: uuidUrl(uuid), resource };
}

/** Builds the Bundle for one study and one measurement set; equal inputs give equal Bundles except `issued`. */
export function buildKidneyVolumeBundle(facts: StudyFacts, set: MeasurementSet, options: KidneyVolumeBundleOptions): Bundle {
  const studyUid = checkUid('studyInstanceUid', facts.studyInstanceUid);
  if (set.measurements.length === 0) throw new FhirInputError('measurements', '[]', 'must hold at least one measurement');
  if (!/^[0-9a-f]{64}$/.test(set.digest)) throw new FhirInputError('digest', set.digest, 'must be a sha256 in hex');

  const pid = patientIdentifier(facts.patient);
  const patientUuid = contentUuid('Patient', pid.system ?? '', pid.value ?? '');
  const study = studyIdentifier(studyUid);
  const studyUuid = contentUuid('ImagingStudy', study.value ?? '');
  const effective = studyDateTime(facts.studyDate, facts.studyTime, options.timeZone);

  const identity = studyIdentity(facts);
  const ctx: ObservationContext = {
    studyInstanceUid: studyUid,
    study: identity,
    setDigest: set.digest,
    patientUrl: uuidUrl(patientUuid),
    imagingStudyUrl: uuidUrl(studyUuid),
    effective,
    issued: fhirInstant(options.now),
    ...(options.sources ? { sources: options.sources } : {}),
  };
  const seen = new Set<string>();
  const observations = set.measurements.map((m) => {
    const uuid = measurementUuid(ctx, m);
    // Names are unique in a valid set; two equal names would give two resources one fullUrl.
    if (seen.has(uuid)) throw new FhirInputError('measurement name', m.name, 'must be unique in the set');
    seen.add(uuid);
    return entry(uuid, buildVolumeObservation(m, ctx));
  });

  return {
    resourceType: 'Bundle',
    identifier: { system: KV_BUNDLE, value: bundleUuid(identity, set.digest) },
    type: 'collection',
    entry: [
      entry(patientUuid, buildPatient(facts.patient)),
      entry(studyUuid, buildImagingStudy(facts, ctx.patientUrl, effective, options.sr)),
      ...observations,
    ],
  };
}
