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

function only<T extends Resource>(entries: readonly BundleEntry[], type: T['resourceType']): BundleEntry<T> {
  const found = entries.filter((e) => e.resource?.resourceType === type);
  if (found.length !== 1) fail(`expected exactly one ${type}, found ${found.length}`);
  return found[0] as BundleEntry<T>;
}

function identifierValue(identifiers: readonly Identifier[] | undefined, match: (i: Identifier) => boolean): string | undefined {
  return identifiers?.find(match)?.value;
}

function readObservation(entry: BundleEntry<Observation>, patientUrl: string, studyUrl: string): StoredVolume {
  const obs = entry.resource as Observation;
  const where = `Observation ${entry.fullUrl ?? '(no fullUrl)'}`;
  const identifier = identifierValue(obs.identifier, (i) => i.system === KV_OBSERVATION);
  if (!identifier) fail(`${where} has no ${KV_OBSERVATION} identifier`);
  const name = identifierValue(obs.identifier, (i) => i.type?.coding?.some((c) => c.code === FHIR_CODES.trackingId.code) ?? false);
  if (!name) fail(`${where} has no tracking-id identifier (the measurement name)`);
  const status = obs.status as WrittenStatus;
  if (!WRITTEN_STATUSES.includes(status)) fail(`${where} status must be one of ${WRITTEN_STATUSES.join(', ')}, got "${obs.status}"`);
  if (!obs.code.coding?.some((c) => c.system === SNOMED && c.code === SCT.Volume.value)) {
    fail(`${where} code must be SNOMED ${SCT.Volume.value} (Volume)`);
  }
  const q = obs.valueQuantity;
  if (q?.system !== UCUM || q.code !== 'mL' || typeof q.value !== 'number' || !(q.value > 0)) {
    fail(`${where} valueQuantity must be a positive UCUM mL, got ${JSON.stringify(q)}`);
  }
  if (obs.subject?.reference !== patientUrl) fail(`${where} subject must be the Bundle's Patient ${patientUrl}`);
  if (!obs.derivedFrom?.some((r) => r.reference === studyUrl)) fail(`${where} must be derivedFrom the ImagingStudy ${studyUrl}`);
  const site = obs.bodySite?.coding?.find((c) => c.system === SNOMED);
  const anatomy = site?.code === undefined ? undefined : anatomyForBodySite(site.code);
  if (site && anatomy === undefined) fail(`${where} bodySite ${site.code} is not a site this project writes`);
  return { name, volumeMl: q.value, anatomy, bodySiteCode: site?.code, identifier, status, issued: obs.issued, observation: obs };
}

/** Parses a stored kidney volume Bundle and answers its volumes; throws FhirBundleReadError naming the first problem. */
export function readKidneyVolumeBundle(json: string): StoredKidneyVolumes {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    return fail(`not JSON (${(e as Error).message})`);
  }
  const bundle = parsed as Bundle;
  if (bundle?.resourceType !== 'Bundle' || bundle.type !== 'collection') {
    fail(`expected a collection Bundle, got ${String(bundle?.resourceType)} ${String(bundle?.type)}`);
  }
  const entries = bundle.entry ?? [];
  const patient = only<Patient>(entries, 'Patient');
  const study = only<ImagingStudy>(entries, 'ImagingStudy');
  const studyValue = identifierValue(study.resource?.identifier, (i) => i.system === DICOM_UID);
  if (!studyValue?.startsWith('urn:oid:')) fail(`ImagingStudy has no ${DICOM_UID} identifier`);
  if (!patient.fullUrl || !study.fullUrl) fail('Patient and ImagingStudy entries need fullUrls');
  if (study.resource?.subject.reference !== patient.fullUrl) fail('ImagingStudy subject must be the Bundle Patient');
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
    bundleIdentifier: bundle.identifier?.system === KV_BUNDLE ? bundle.identifier.value : undefined,
    timestamp: bundle.timestamp,
  };
}
