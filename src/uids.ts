/** DICOM UIDs (PS3.5 section 9): random ones from a UUID, and stable ones derived from content. */
import { createHash, randomUUID } from 'node:crypto';

/**
 * The one UID syntax of this code (PS3.5 section 9.1): an ISO OID, so its first arc is 0, 1 or 2
 * and it has at least two (an organisation root and a suffix), decimal arcs without leading zeros.
 * It is also FHIR's `oid` type, so every UID we accept can be written as urn:oid: in FHIR.
 */
const UID_PATTERN = /^[0-2](\.(0|[1-9]\d*))+$/;

/** The longest UID (PS3.5 section 9.1). */
export const MAX_UID_LENGTH = 64;

/** True when `text` is a DICOM UID: the syntax above, at most 64 characters. */
export function isDicomUid(text: string): boolean {
  return text.length <= MAX_UID_LENGTH && UID_PATTERN.test(text);
}

/** How a rejected UID is described in messages. */
export const UID_RULE = 'dotted digits starting with 0, 1 or 2, without leading zeros, at most 64 characters';

/** Checks an organisation root given in configuration; answers it without a trailing dot. */
export function checkUidRoot(root: string): string {
  const trimmed = root.replace(/\.$/, '');
  if (!UID_PATTERN.test(trimmed) || trimmed.length > 40) {
    throw new Error(`UID root must be dotted digits starting with 0, 1 or 2, without leading zeros and at most 40 characters, got "${root}"`);
  }
  return trimmed;
}

/** A `2.25.` UID from 128 bits, as PS3.5 Annex B.2 allows. */
function uidFrom128Bits(hex: string): string {
  return `2.25.${BigInt(`0x${hex}`).toString(10)}`;
}

/** A new random UID: under the organisation root when one is given, else `2.25.` from a random UUID. */
export function newUid(root?: string): string {
  const hex = randomUUID().replace(/-/g, '');
  return root ? fitUnderRoot(root, hex) : uidFrom128Bits(hex);
}

/**
 * A UID that is the same every time for the same inputs (for example a study's UID and a
 * measurement digest), so a re-run recognises what an earlier run wrote.
 */
export function stableUid(root: string | undefined, ...parts: readonly string[]): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
  return root ? fitUnderRoot(root, hex) : uidFrom128Bits(hex);
}

function fitUnderRoot(root: string, hex: string): string {
  const checked = checkUidRoot(root);
  const room = 64 - checked.length - 1;
  const digits = BigInt(`0x${hex}`).toString(10).slice(0, room);
  return `${checked}.${digits.replace(/^0+(?=\d)/, '') || '0'}`;
}
