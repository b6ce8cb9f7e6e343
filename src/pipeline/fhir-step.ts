/**
 * The FHIR approach: the study's measurements as a FHIR R4 Bundle (Patient, ImagingStudy, one
 * Observation per measurement), validated, stored compactly as the study's KidneyVolumes metadata,
 * read back and checked against the measurements. The Bundle stored before this run is the previous
 * version: the new one is built from it (statuses, identifiers, withdrawn measurements: src/fhir/versions.ts).
 */
import type { Bundle, ImagingStudy } from '@medplum/fhirtypes';
import { InvalidMeasurementsError, KidneyVolumesError, RaceLostError, StudyDataError } from '../errors.js';
import { buildKidneyVolumeBundle, type SrReference } from '../fhir/bundle.js';
import { FhirBundleReadError, FhirInputError } from '../fhir/errors.js';
import { readKidneyVolumeBundle, type StoredKidneyVolumes } from '../fhir/read.js';
import { serializeResource } from '../fhir/serialize.js';
import { formatStructuralIssues, structuralIssues } from '../fhir/self-check.js';
import type { MeasurementSet } from '../measurements/model.js';
import type { OrthancClient } from '../orthanc/client.js';
import type { StudyFacts } from '../study/facts.js';
import type { Step, StepContext, StoredOutcome } from './approaches.js';
import { outcomeFor, type FhirOutcome, type WriterOutcome } from './outcomes.js';
import { METADATA } from '../orthanc/metadata.js';
import { sourceReference } from '../measurements/origin.js';

/** What the study's KidneyVolumes metadata holds. */
type Stored =
  | { readonly kind: 'absent' }
  | { readonly kind: 'unreadable'; readonly problem: string; readonly etag?: string }
  | { readonly kind: 'readable'; readonly json: string; readonly volumes: StoredKidneyVolumes; readonly etag?: string };

async function readStored(client: OrthancClient, facts: StudyFacts): Promise<Stored> {
  const stored = await client.studyMetadata(facts.orthancId, METADATA.fhir);
  if (stored === undefined) return { kind: 'absent' };
  try {
    const volumes = readKidneyVolumeBundle(stored.value);
    if (volumes.studyInstanceUid !== facts.studyInstanceUid) {
      return { kind: 'unreadable', problem: `the Bundle is about study ${volumes.studyInstanceUid}, not ${facts.studyInstanceUid}`, ...etagOf(stored.etag) };
    }
    return { kind: 'readable', json: stored.value, volumes, ...etagOf(stored.etag) };
  } catch (error) {
    if (error instanceof FhirBundleReadError) return { kind: 'unreadable', problem: error.message, ...etagOf(stored.etag) };
    throw error;
  }
}

/** The SR the SR step stored (or found) in this run, when it ran before us. */
function srOf(earlier: readonly WriterOutcome[]): SrReference | undefined {
  const sr = outcomeFor(earlier, 'sr')?.details;
  return sr === undefined ? undefined : { seriesInstanceUid: sr.seriesInstanceUid, sopInstanceUid: sr.sopInstanceUid, sopClassUid: sr.sopClassUid };
}

/**
 * Builds the Bundle and refuses one that breaks FHIR R4's structure: storing it would only move the
 * failure to every reader. The builder is pure, and the tests validate each of its branches against
 * the full R4 StructureDefinitions; this check is the cheap guard against what slips through.
 */
function validBundle(context: StepContext, sr: SrReference | undefined, previous: StoredKidneyVolumes | undefined): Bundle {
  const { facts, measurements } = context;
  // The study's own offset says when it was acquired better than any setting of ours.
  const timeZone = facts.timezoneOffsetFromUtc ?? context.settings.timeZone;
  const bundle = buildKidneyVolumeBundle(facts, measurements, {
    now: context.now,
    ...(previous ? { previous } : {}),
    ...(sr ? { sr } : {}),
    ...(timeZone !== undefined ? { timeZone } : {}),
    ...(context.origin ? { sources: [sourceReference(context.origin)] } : {}),
  });
  const errors = structuralIssues(bundle);
  if (errors.length > 0) {
    throw new KidneyVolumesError('internal', `the FHIR Bundle for study ${facts.studyInstanceUid} is not valid FHIR R4, so it was not stored:\n${formatStructuralIssues(errors)}`, {
      approach: 'fhir',
      issues: errors,
    });
  }
  return bundle;
}

/** SOP Instance UIDs the stored ImagingStudy lists (the SR of the run that wrote it). */
function listedInstances(json: string): string[] {
  const bundle = JSON.parse(json) as Bundle;
  const study = bundle.entry?.find((e) => e.resource?.resourceType === 'ImagingStudy')?.resource as ImagingStudy | undefined;
  return study?.series?.flatMap((s) => (s.instance ?? []).map((i) => i.uid)) ?? [];
}

/**
 * True when the stored Bundle is this run's version: the same Bundle identifier (it derives from
 * the study and the measurement digest) and the same Observations, and the SR this run wrote, if
 * any, listed. A run without an SR keeps whatever SR an earlier run listed.
 */
function alreadyStored(stored: Stored, expected: StoredKidneyVolumes, sr: SrReference | undefined): stored is Extract<Stored, { kind: 'readable' }> {
  if (stored.kind !== 'readable' || stored.volumes.bundleIdentifier !== expected.bundleIdentifier) return false;
  const ids = (v: StoredKidneyVolumes): string => JSON.stringify(v.all.map((o) => [o.identifier, o.status, o.issued]));
  if (ids(stored.volumes) !== ids(expected)) return false;
  return sr === undefined || listedInstances(stored.json).includes(sr.sopInstanceUid);
}

/** The stored Bundle, checked to hold exactly the measurements (name and value); throws otherwise. */
function requireMeasurements(stored: Stored, facts: StudyFacts, set: MeasurementSet): Extract<Stored, { kind: 'readable' }> {
  const fail = (found: string): never => {
    throw new KidneyVolumesError('internal', `study metadata ${METADATA.fhir} of study ${facts.studyInstanceUid} read back wrong: expected the measurements, ${found}`, {
      approach: 'fhir',
      studyId: facts.orthancId,
    });
  };
  if (stored.kind === 'absent') return fail('found nothing');
  if (stored.kind === 'unreadable') return fail(stored.problem);
  const want = JSON.stringify(set.measurements.map((m) => [m.name, Number(m.valueMl)]).sort());
  const got = JSON.stringify(stored.volumes.observations.map((o) => [o.name, o.volumeMl]).sort());
  if (want !== got) fail(`found ${got} instead of ${want}`);
  return stored;
}

/**
 * Writes the Bundle over exactly the revision that was read (create-only when there was none), so
 * of two writers racing for the study one wins and the other sees a conflict (false).
 */
async function replaceRevision(client: OrthancClient, facts: StudyFacts, json: string, before: Stored): Promise<boolean> {
  return client.replaceStudyMetadata(facts.orthancId, METADATA.fhir, json, before.kind === 'absent' ? undefined : before.etag);
}

/**
 * The valid Bundle, or the reason the study or the measurements cannot give one: an empty
 * PatientID (legal in DICOM, type 2) leaves FHIR without a Patient identifier, and a placeholder
 * patient is never written, so the FHIR step fails alone with that reason.
 */
function bundleOrCause(context: StepContext, sr: SrReference | undefined, previous: StoredKidneyVolumes | undefined): Bundle {
  try {
    return validBundle(context, sr, previous);
  } catch (error) {
    if (!(error instanceof FhirInputError)) throw error;
    const { facts } = context;
    if (error.field.startsWith('measurement') || error.field === 'digest') throw new InvalidMeasurementsError(`FHIR Bundle not written: ${error.message}`);
    const why =
      error.field === 'patientId'
        ? `the study's PatientID is empty (legal in DICOM, but a FHIR Patient needs an identifier and no placeholder patient is ever written)`
        : error.message;
    throw new StudyDataError(`FHIR Bundle not written for study ${facts.studyInstanceUid}: ${why}`, { approach: 'fhir', field: error.field, value: error.value });
  }
}

function etagOf(etag: string | undefined): { etag?: string } {
  return etag === undefined ? {} : { etag };
}

async function write(context: StepContext): Promise<FhirOutcome> {
  const { client, facts, measurements } = context;
  const sr = srOf(context.earlier);
  // Absent when the check began: no need to read it again (one round trip per study, issue 17). The
  // write below is then create-only, so a Bundle written since fails it and is read like a lost race.
  let before: Stored = context.metadataSeen !== undefined && context.metadataSeen[METADATA.fhir] === undefined ? { kind: 'absent' } : await readStored(client, facts);
  // The stored Bundle is the previous version; an unreadable one (hand-edited, another program's)
  // cannot say what was released, so the new Bundle is written as a first version over it.
  const bundle = bundleOrCause(context, sr, before.kind === 'readable' ? before.volumes : undefined);
  const json = serializeResource(bundle);
  const expected = readKidneyVolumeBundle(json);
  let alreadyPresent = alreadyStored(before, expected, sr);
  // A study re-created by an upload after its deletion must not get metadata (src/pipeline/study-guard.ts).
  if (!alreadyPresent) await context.uploads.requirePresent();
  if (!alreadyPresent && !(await replaceRevision(client, facts, json, before))) {
    // Somebody wrote between our read and our write (another replica that took the study over,
    // or a late write of a replica that lost it): if it is this very Bundle, it is there already.
    before = await readStored(client, facts);
    alreadyPresent = alreadyStored(before, expected, sr);
    if (!alreadyPresent) {
      throw new RaceLostError(`study metadata ${METADATA.fhir} of study ${facts.studyInstanceUid} changed while it was being written; trying again`);
    }
  }
  const stored = requireMeasurements(alreadyPresent ? before : await readStored(client, facts), facts, measurements);
  const count = stored.volumes.observations.length;
  const bytes = Buffer.byteLength(stored.json, 'utf8');
  const bundleIdentifier = bundle.identifier?.value ?? '';
  const statuses = countStatuses(stored.volumes);
  return {
    approach: 'fhir',
    summary: `Bundle ${bundleIdentifier} with ${count} Observation(s)${statusNote(statuses)} in study metadata ${METADATA.fhir} (${bytes} bytes)`,
    alreadyPresent,
    // storedBytes/addedBytes as the other steps report them (issue 17); `bytes` kept for readers of the status.
    details: { observations: count, bytes, storedBytes: bytes, addedBytes: alreadyPresent ? 0 : bytes, bundleIdentifier, statuses },
    bundle,
  };
}

/** How many Observations the Bundle holds in each status, e.g. {final: 1, amended: 1}. */
function countStatuses(volumes: StoredKidneyVolumes): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of volumes.all) counts[o.status] = (counts[o.status] ?? 0) + 1;
  return counts;
}

/** " (1 amended, 1 entered-in-error)" for a version that replaced another; empty for a first version. */
function statusNote(statuses: Record<string, number>): string {
  const other = Object.entries(statuses).filter(([status]) => status !== 'final');
  return other.length === 0 ? '' : ` (${other.map(([status, n]) => `${n} ${status}`).join(', ')})`;
}

async function inspect(client: OrthancClient, facts: StudyFacts): Promise<StoredOutcome> {
  const stored = await readStored(client, facts);
  if (stored.kind === 'absent') return { approach: 'fhir', found: false, summary: `no FHIR Bundle in study metadata ${METADATA.fhir}`, details: {} };
  if (stored.kind === 'unreadable') {
    return { approach: 'fhir', found: false, summary: `study metadata ${METADATA.fhir} holds no usable Bundle: ${stored.problem}`, details: { problem: stored.problem } };
  }
  const observations = stored.volumes.observations.map((o) => ({ name: o.name, volumeMl: o.volumeMl, bodySite: o.bodySiteCode, anatomy: o.anatomy, status: o.status }));
  const list = observations.map((o) => `${o.name} ${o.volumeMl} mL${o.anatomy ? ` (${o.anatomy})` : ''}${o.status !== 'final' ? ` ${o.status}` : ''}`).join(', ');
  const withdrawn = stored.volumes.all.filter((o) => o.status === 'entered-in-error').map((o) => ({ name: o.name, volumeMl: o.volumeMl, issued: o.issued }));
  const also = withdrawn.length > 0 ? `; withdrawn (entered-in-error): ${withdrawn.map((o) => o.name).join(', ')}` : '';
  return {
    approach: 'fhir',
    found: true,
    summary: `${observations.length} Observation(s) in study metadata ${METADATA.fhir}: ${list}${also}`,
    details: { observations, ...(withdrawn.length > 0 ? { withdrawn } : {}) },
  };
}

/** The FHIR R4 writer step. */
export const fhirStep: Step<FhirOutcome> = { approach: 'fhir', write, inspect };
