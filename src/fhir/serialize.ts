/** Compact JSON for FHIR resources (FHIR R4 section 2.6.2) that keeps each volume's decimal precision. */
import type { Resource } from '@medplum/fhirtypes';
import { PreciseQuantity } from './precise-quantity.js';

function write(value: unknown, indent: string, depth: string): string {
  // Same layout as JSON.stringify(value, null, indent): compact when indent is empty.
  const inner = depth + indent;
  const [open, separator, close, colon] = indent === '' ? ['', ',', '', ':'] : [`\n${inner}`, `,\n${inner}`, `\n${depth}`, ': '];
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[${open}${value.map((v) => (v === undefined ? 'null' : write(v, indent, inner))).join(separator)}${close}]`;
  }
  if (value !== null && typeof value === 'object') {
    const raw = value instanceof PreciseQuantity ? value.decimal : undefined;
    const members = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}${colon}${k === 'value' && raw !== undefined ? raw : write(v, indent, inner)}`);
    if (members.length === 0) return '{}';
    return `{${open}${members.join(separator)}${close}}`;
  }
  return JSON.stringify(value);
}

/**
 * A resource (usually a Bundle) as compact UTF-8 JSON, equal to `JSON.stringify` except that
 * volumes keep their trailing zeros ("125.0", not "125"). A Quantity whose value was changed after
 * it was built falls back to the plain number. `indent` lays it out for people, as JSON.stringify's.
 */
export function serializeResource(resource: Resource, options: { readonly indent?: number } = {}): string {
  return write(resource, ' '.repeat(options.indent ?? 0), '');
}
