/** What each delivery gets: the study, the measurements, what the writer steps produced, and I/O. */
import type { MeasurementSet } from '../measurements/model.js';
import type { OrthancClient } from '../orthanc/client.js';
import type { StepOutcome } from '../pipeline/approaches.js';
import type { StudyFacts } from '../study/facts.js';
import type { DeliveryFailure } from './errors.js';
import type { RetryPolicy } from '../retry.js';

/** Inputs of one delivery. */
export interface DeliveryContext {
  readonly client: OrthancClient;
  readonly facts: StudyFacts;
  readonly measurements: MeasurementSet;
  readonly now: Date;
  /** The writer steps' outcomes of this run (the forward delivery sends what they stored). */
  readonly written: readonly StepOutcome[];
  /** Attempts and backoff per destination; failureClass decides which failures are tried again. */
  readonly retry: RetryPolicy;
}

/** What one delivery did: the outcome when every destination was served, else the failures. */
export interface DeliveryResult {
  readonly outcome: StepOutcome;
  /** One line per destination served, for the error message when another one failed. */
  readonly delivered: readonly string[];
  readonly failures: readonly DeliveryFailure[];
}
