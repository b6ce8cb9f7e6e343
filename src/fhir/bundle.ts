/**
 * The FHIR R4 view of one measurement set: a `collection` Bundle holding the Patient, the
 * ImagingStudy and one Observation per measurement, linked by deterministic `urn:uuid:` fullUrls,
 * and, when it replaces an earlier version, that version's withdrawn Observations (src/fhir/versions.ts).
 * Pure: facts, measurements, the clock reading and the previous version in, a Bundle out.
 */
import type { Bundle, BundleEntry, Observation, Resource } from '@medplum/fhirtypes';
import type { MeasurementSet } from '../measurements/model.js';
import type { StudyFacts } from '../study/facts.js';
import { fhirInstant, studyDateTime } from './datetime.js';
import { FhirInputError } from './errors.js';
import { bundleUuid, contentUuid, observationUuid, uuidUrl } from './identity.js';
import { studyIdentity } from '../study/identity.js';
import { buildImagingStudy, checkUid, studyIdentifier, type SrReference } from './imagingStudy.js';
import { buildVolumeObservation, type DicomSourceReference, type ObservationContext } from './observation.js';
import { buildPatient, patientIdentifier } from './patient.js';
import type { StoredKidneyVolumes, StoredVolume } from './read.js';
import { KV_BUNDLE } from './systems.js';
import { stampFor, versionSlots, versionTimeOf } from './versions.js';

/** The SR this run stored, re-exported so callers need only this module. */
export type { SrReference } from './imagingStudy.js';

/** Options of `buildKidneyVolumeBundle`. */
export interface KidneyVolumeBundleOptions {
  /** The clock reading: Bundle.timestamp and the `issued` of what this version releases; the only part of the Bundle that varies between runs. */
  readonly now: Date;
  /**
   * The study's stored Bundle as read before this run (src/fhir/read.ts), when there is one: its
   * Observations keep their identifiers and, when unchanged, their status and `issued`; the ones
   * this set no longer has are withdrawn. A stored Bundle of this very set is rebuilt as it was.
   */
  readonly previous?: StoredKidneyVolumes;
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

/** Builds the Bundle for one study and one measurement set; equal inputs give equal Bundles except the clock reading. */
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
  const bundleId = bundleUuid(identity, set.digest);
  const { previous } = options;
  // A stored Bundle of this same set is this version written earlier (a re-run, a new SR): it keeps
  // its version time, so statuses and `issued` come out as they were.
  const sameVersion = previous !== undefined && previous.bundleIdentifier === bundleId;
  const versionTime = (sameVersion ? versionTimeOf(previous) : undefined) ?? fhirInstant(options.now);
  const ctx: ObservationContext = {
    studyInstanceUid: studyUid,
    study: identity,
    patientUrl: uuidUrl(patientUuid),
    imagingStudyUrl: uuidUrl(studyUuid),
    effective,
    issued: versionTime,
    ...(options.sources ? { sources: options.sources } : {}),
  };
  const seen = new Set<string>();
  const observations = versionSlots(previous, set, (key) => observationUuid(identity, key)).map(({ key, measurement, previous: before }) => {
    // The identifier an earlier version gave it stays (Bundles written before structure keys had others).
    const uuid = before?.identifier ?? observationUuid(identity, key);
    if (seen.has(uuid)) throw new FhirInputError('measurement name', measurement?.name ?? before?.name ?? key, 'must be unique in the set');
    seen.add(uuid);
    if (measurement === undefined) return entry(uuid, withdrawn(before as StoredVolume, ctx, sameVersion));
    const obs = buildVolumeObservation(measurement, ctx, uuid);
    const stamp = sameVersion && before !== undefined && before.issued !== undefined ? { status: before.status, issued: before.issued } : stampFor(obs, before, versionTime);
    obs.status = stamp.status;
    obs.issued = stamp.issued;
    return entry(uuid, obs);
  });

  return {
    resourceType: 'Bundle',
    identifier: { system: KV_BUNDLE, value: bundleId },
    type: 'collection',
    timestamp: versionTime,
    entry: [
      entry(patientUuid, buildPatient(facts.patient)),
      entry(studyUuid, buildImagingStudy(facts, ctx.patientUrl, effective, options.sr)),
      ...observations,
    ],
  };
}

/**
 * A measurement this set no longer has: its last released Observation, withdrawn (entered-in-error)
 * with the version's time as `issued`, or as it was when an earlier version withdrew it already. Its
 * value stays, so the record says what was withdrawn. References to the Patient and the ImagingStudy
 * point at this Bundle's entries (the same resources, and the same urn:uuid unless the reader moved them).
 */
function withdrawn(before: StoredVolume, ctx: ObservationContext, sameVersion: boolean): Observation {
  const { meta: _meta, id: _id, ...obs } = before.observation;
  const keep = before.status === 'entered-in-error' || sameVersion;
  const derivedFrom = (obs.derivedFrom ?? []).map((r, i): NonNullable<Observation['derivedFrom']>[number] => (i === 0 && r.reference?.startsWith('urn:uuid:') ? { ...r, reference: ctx.imagingStudyUrl } : r));
  return {
    ...obs,
    status: 'entered-in-error',
    subject: { reference: ctx.patientUrl },
    ...(derivedFrom.length > 0 ? { derivedFrom } : {}),
    issued: keep && before.issued !== undefined ? before.issued : ctx.issued,
  };
}
