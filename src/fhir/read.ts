/**
 * Reads back a Bundle written by `buildKidneyVolumeBundle` and checks that it still says what the
 * writer meant: the shape, the links between entries and the codes. Schema validation is separate
 * (`structuralIssues` before storing; the full R4 validation in the tests), so reading stays cheap.
 */
import type { Bundle, BundleEntry, Identifier, ImagingStudy, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { SCT } from '../dicom/codes.js';
import type { Anatomy } from '../measurements/model.js';
import { FhirBundleReadError } from './errors.js';
import { anatomyForBodySite } from './observation.js';
import { DICOM_UID, FHIR_CODES, KV_BUNDLE, KV_OBSERVATION, SNOMED, UCUM } from './systems.js';

/** The Observation statuses this project writes (src/fhir/versions.ts says when each is used). */
export const WRITTEN_STATUSES = ['final', 'amended', 'entered-in-error'] as const;
/** One of them. */
export type WrittenStatus = (typeof WRITTEN_STATUSES)[number];

/** One volume as stored. */
export interface StoredVolume {
  /** The measurement's name (the tracking identifier). */
  readonly name: string;
  /** The volume in mL. */
  readonly volumeMl: number;
  /** The anatomy the bodySite codes, undefined for a named volume without one. */
  readonly anatomy: Anatomy | undefined;
  /** The bodySite's SNOMED code as stored, undefined when there is none. */
  readonly bodySiteCode: string | undefined;
  /** The Observation's stable identifier value. */
  readonly identifier: string;
  /** final, amended (changed after final) or entered-in-error (retracted by a later version). */
  readonly status: WrittenStatus;
  /** When this version of the Observation was released (Observation.issued). */
  readonly issued: string | undefined;
  /** The Observation as stored, for comparing a new version with it. */
  readonly observation: Observation;
}

/** What a stored kidney volume Bundle holds. */
export interface StoredKidneyVolumes {
  readonly studyInstanceUid: string;
  /** The current volumes: every Observation that is not entered-in-error. */
  readonly observations: readonly StoredVolume[];
  /** Every Observation in Bundle order, the retracted (entered-in-error) ones included. */
  readonly all: readonly StoredVolume[];
  /** Bundle.identifier (one per measurement set), undefined in a Bundle without one. */
  readonly bundleIdentifier: string | undefined;
  /** Bundle.timestamp: when this version of the results was first assembled; undefined in Bundles written before versions. */
  readonly timestamp: string | undefined;
}

function fail(rule: string): never {
  throw new FhirBundleReadError(`stored FHIR bundle: ${rule}`);
}

// The metadata can be edited by anyone with write access to Orthanc: every element is read as
// "absent unless it has the expected JSON shape", so a wrong shape fails with a named rule, never a TypeError.

/** The value when it is an array, else an empty one. */
function arr<T>(value: unknown): readonly T[] {
  return Array.isArray(value) ? (value as T[]) : [];
}

/** The value when it is a string, else undefined. */
function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function only<T extends Resource>(entries: readonly BundleEntry[], type: T['resourceType']): BundleEntry<T> {
  const found = entries.filter((e) => e.resource?.resourceType === type);
  if (found.length !== 1) fail(`expected exactly one ${type}, found ${found.length}`);
  return found[0] as BundleEntry<T>;
}

function identifierValue(identifiers: unknown, match: (i: Identifier) => boolean): string | undefined {
  return str(arr<Identifier>(identifiers).find((i) => isObject(i) && match(i))?.value);
}

function readObservation(entry: BundleEntry<Observation>, patientUrl: string, studyUrl: string): StoredVolume {
  const obs = entry.resource as Observation;
  const where = `Observation ${str(entry.fullUrl) ?? '(no fullUrl)'}`;
  const identifier = identifierValue(obs.identifier, (i) => i.system === KV_OBSERVATION);
  if (!identifier) fail(`${where} has no ${KV_OBSERVATION} identifier`);
  const name = identifierValue(obs.identifier, (i) => isObject(i.type) && arr<{ code?: unknown }>(i.type.coding).some((c) => c?.code === FHIR_CODES.trackingId.code));
  if (!name) fail(`${where} has no tracking-id identifier (the measurement name)`);
  const status = obs.status as WrittenStatus;
  if (!WRITTEN_STATUSES.includes(status)) fail(`${where} status must be one of ${WRITTEN_STATUSES.join(', ')}, got ${JSON.stringify(obs.status)?.slice(0, 40)}`);
  if (!arr<{ system?: unknown; code?: unknown }>(isObject(obs.code) ? obs.code.coding : undefined).some((c) => c?.system === SNOMED && c.code === SCT.Volume.value)) {
    fail(`${where} code must be SNOMED ${SCT.Volume.value} (Volume)`);
  }
  const q = isObject(obs.valueQuantity) ? obs.valueQuantity : undefined;
  if (q?.system !== UCUM || q.code !== 'mL' || typeof q.value !== 'number' || !(q.value > 0)) {
    fail(`${where} valueQuantity must be a positive UCUM mL, got ${JSON.stringify(q)}`);
  }
  if (!isObject(obs.subject) || obs.subject.reference !== patientUrl) fail(`${where} subject must be the Bundle's Patient ${patientUrl}`);
  if (!arr<{ reference?: unknown }>(obs.derivedFrom).some((r) => r?.reference === studyUrl)) fail(`${where} must be derivedFrom the ImagingStudy ${studyUrl}`);
  const site = arr<{ system?: unknown; code?: unknown }>(isObject(obs.bodySite) ? obs.bodySite.coding : undefined).find((c) => c?.system === SNOMED);
  const siteCode = site === undefined ? undefined : str(site.code);
  const anatomy = siteCode === undefined ? undefined : anatomyForBodySite(siteCode);
  if (site && anatomy === undefined) fail(`${where} bodySite ${siteCode ?? JSON.stringify(site.code)} is not a site this project writes`);
  if (obs.issued !== undefined && typeof obs.issued !== 'string') fail(`${where} issued must be an instant, got ${JSON.stringify(obs.issued)}`);
  return { name, volumeMl: q.value, anatomy, bodySiteCode: siteCode, identifier, status, issued: obs.issued, observation: obs };
}

/** Parses a stored kidney volume Bundle and answers its volumes; throws FhirBundleReadError naming the first problem. */
export function readKidneyVolumeBundle(json: string): StoredKidneyVolumes {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    return fail(`not JSON (${(e as Error).message})`);
  }
  if (!isObject(parsed) || parsed['resourceType'] !== 'Bundle' || parsed['type'] !== 'collection') {
    const what = isObject(parsed) ? `${JSON.stringify(parsed['resourceType'])?.slice(0, 40)} ${JSON.stringify(parsed['type'])?.slice(0, 40)}` : JSON.stringify(parsed)?.slice(0, 40);
    fail(`expected a collection Bundle, got ${what}`);
  }
  const bundle = parsed as unknown as Bundle;
  if (bundle.entry !== undefined && !Array.isArray(bundle.entry)) fail('entry must be a list');
  const entries = (bundle.entry ?? []).filter((e): e is BundleEntry => isObject(e) && isObject(e.resource));
  if (entries.length !== (bundle.entry ?? []).length) fail('every entry must hold a resource');
  const patient = only<Patient>(entries, 'Patient');
  const study = only<ImagingStudy>(entries, 'ImagingStudy');
  const studyValue = identifierValue(study.resource?.identifier, (i) => i.system === DICOM_UID);
  if (!studyValue?.startsWith('urn:oid:')) fail(`ImagingStudy has no ${DICOM_UID} identifier`);
  if (!str(patient.fullUrl) || !str(study.fullUrl)) fail('Patient and ImagingStudy entries need fullUrls');
  if (!isObject(study.resource?.subject) || study.resource.subject.reference !== patient.fullUrl) fail('ImagingStudy subject must be the Bundle Patient');
  const all = entries
    .filter((e): e is BundleEntry<Observation> => e.resource?.resourceType === 'Observation')
    .map((e) => readObservation(e, patient.fullUrl as string, study.fullUrl as string));
  const observations = all.filter((o) => o.status !== 'entered-in-error');
  if (observations.length === 0) fail('no current Observation');
  const identifiers = new Set(all.map((o) => o.identifier));
  if (identifiers.size !== all.length) fail('two Observations share an identifier');
  return {
    studyInstanceUid: studyValue.slice('urn:oid:'.length),
    observations,
    all,
    bundleIdentifier: isObject(bundle.identifier) && bundle.identifier.system === KV_BUNDLE ? str(bundle.identifier.value) : undefined,
    timestamp: str(bundle.timestamp),
  };
}
