/** The one error a failed delivery throws, listing every destination that failed and what did arrive. */
import { KidneyVolumesError } from '../errors.js';

/** One destination that could not be served. */
export interface DeliveryFailure {
  /** Where, for people: "DICOM modality PACS2", "HL7 MLLP 10.0.0.5:2575", "HL7 folder /data/hl7". */
  readonly destination: string;
  readonly message: string;
  readonly attempts: number;
  /** True when another attempt cannot succeed (an HL7 AR, a modality Orthanc does not know). */
  readonly permanent: boolean;
}

/**
 * One attempt at one destination failed: `rejected` when the receiver refuses this message as
 * such (an HL7 AR), so another attempt cannot help; otherwise another attempt may succeed.
 */
export class DeliveryAttemptError extends KidneyVolumesError {
  /** Makes the error; the message says what the receiver did or answered. */
  constructor(message: string, rejected = false) {
    super(rejected ? 'delivery-rejected' : 'delivery', message);
    this.name = 'DeliveryAttemptError';
  }
}

/**
 * A delivery failed after its own retries. The kind is `delivery` when another attempt may succeed
 * (receiver down, timeout, AE) and `delivery-rejected` when every failure is permanent.
 */
export class DeliveryError extends KidneyVolumesError {
  /** Makes the error; the message names each failed destination and says what was delivered. */
  constructor(
    readonly failures: readonly DeliveryFailure[],
    readonly delivered: readonly string[],
  ) {
    super(
      failures.every((f) => f.permanent) ? 'delivery-rejected' : 'delivery',
      failures.map((f) => `${f.destination}: ${f.message}${f.attempts > 1 ? ` (after ${f.attempts} attempts)` : ''}`).join('; ') +
        (delivered.length > 0 ? `; delivered: ${delivered.join('; ')}` : ''),
      { failures, delivered },
    );
    this.name = 'DeliveryError';
  }
}
