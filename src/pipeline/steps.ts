/** The writer steps this build has. An approach without a step here is reported as not available. */
import type { Approach, Step } from './approaches.js';
import { fhirStep } from './fhir-step.js';
import { privateStep } from './private-step.js';
import { srStep } from './sr-step.js';

/** Steps by approach. */
export const STEPS: Partial<Record<Approach, Step>> = {
  sr: srStep,
  fhir: fhirStep,
  private: privateStep,
};
