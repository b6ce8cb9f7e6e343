/**
 * Deterministic identities for the resources we write: the same study and measurements give the
 * same fullUrls and identifiers on every run, so a re-run is recognised (conditional create) and a
 * stored Bundle compares equal, while any changed value gives new ones.
 */
import { createHash } from 'node:crypto';

/**
 * A UUID (RFC 9562 version 8, "custom") from the sha256 of the parts. The kind keeps a Patient and
 * an Observation that happen to share key text from ever sharing a UUID.
 */
export function contentUuid(kind: string, ...parts: readonly string[]): string {
  const bytes = createHash('sha256').update(['kidney-volumes', kind, ...parts].join('\u0000')).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80; // version 8
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80; // variant 10xx
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The `urn:uuid:` fullUrl for a content UUID. */
export function uuidUrl(uuid: string): string {
  return `urn:uuid:${uuid}`;
}

/**
 * Key of one Observation: the study (its identity, as for bundleUuid), the measurement's name and the digest of the whole set. The
 * digest is part of it because the Observations are the FHIR view of one measurement report: a
 * corrected set is a new report whose Observations sit beside the old ones, never overwrite them.
 */
export function observationUuid(study: readonly [string, string], name: string, setDigest: string): string {
  return contentUuid('Observation', ...study, name, setDigest);
}

/**
 * Key of the Bundle as a whole: one study, one measurement set. `study` is the study's identity
 * (src/study/identity.ts: StudyInstanceUID and Orthanc study ID), so two patients' studies that
 * share a StudyInstanceUID never share an identifier on a FHIR server.
 */
export function bundleUuid(study: readonly [string, string], setDigest: string): string {
  return contentUuid('Bundle', ...study, setDigest);
}
