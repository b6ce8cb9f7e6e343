/**
 * Deterministic identities for the resources we write. An Observation's identity belongs to the
 * study and the measured structure, never to the values: a corrected volume is a new version of the
 * same Observation (issue 14), which FHIR servers and EHRs update in place. The Bundle, a snapshot of
 * one measurement set, keeps an identity per version.
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
 * Key of one Observation: the study (its identity, as for bundleUuid) and the measured structure.
 * No value and no digest: every version of the measurements updates the same Observation.
 */
export function observationUuid(study: readonly [string, string], structure: string): string {
  return contentUuid('Observation', ...study, structure);
}

/**
 * Key of the Bundle as a whole: one study, one measurement set (one version of the results). `study` is the study's identity
 * (src/study/identity.ts: StudyInstanceUID and Orthanc study ID), so two patients' studies that
 * share a StudyInstanceUID never share an identifier on a FHIR server.
 */
export function bundleUuid(study: readonly [string, string], setDigest: string): string {
  return contentUuid('Bundle', ...study, setDigest);
}
