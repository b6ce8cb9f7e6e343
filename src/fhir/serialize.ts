/** Compact JSON for FHIR resources (FHIR R4 section 2.6.2) that keeps each volume's decimal precision. */
import type { Resource } from '@medplum/fhirtypes';
import { decimalText } from './observation.js';

function write(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : write(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const raw = decimalText.get(value);
    const members = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}:${k === 'value' && raw !== undefined && v === Number(raw) ? raw : write(v)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * A resource (usually a Bundle) as compact UTF-8 JSON, equal to `JSON.stringify` except that
 * volumes keep their trailing zeros ("125.0", not "125"). A Quantity whose value was changed after
 * it was built falls back to the plain number.
 */
export function serializeResource(resource: Resource): string {
  return write(resource);
}
