/** The writer steps this build has. An approach without a step here is reported as not available. */
import type { Approach, Step } from './approaches.js';

/** Steps by approach. */
export const STEPS: Partial<Record<Approach, Step>> = {};
