/** Runs the configured deliveries after the writer steps, and turns their failures into one DeliveryError. */
import type { MeasurementSet } from '../measurements/model.js';
import type { OrthancClient } from '../orthanc/client.js';
import type { StudyFacts } from '../study/facts.js';
import type { DeliveryContext, DeliveryOutcome, DeliveryResult, WrittenOutputs } from './context.js';
import { DeliveryError } from './errors.js';
import { realSleep, type Sleep } from '../retry.js';
import type { DeliverySettings } from './settings.js';

/** Inputs of runDeliveries. */
export interface RunDeliveriesInput {
  readonly client: OrthancClient;
  readonly facts: StudyFacts;
  readonly measurements: MeasurementSet;
  readonly now: Date;
  /** What the writer steps of this run stored. */
  readonly written: WrittenOutputs;
  readonly settings: DeliverySettings | undefined;
  readonly sleep?: Sleep;
}

/**
 * Runs every configured delivery (each destination gets its attempts even when another failed)
 * and answers their outcomes. When any destination still fails, throws a DeliveryError naming it:
 * the study's processing then fails or is retried like any other fault, rather than being marked
 * done with results missing somewhere. The writer steps are idempotent, so a retry redoes only
 * the deliveries; a destination served twice gets the same SOP Instance UIDs or the same MSH-10.
 */
export async function runDeliveries(input: RunDeliveriesInput): Promise<DeliveryOutcome[]> {
  const { settings } = input;
  if (settings === undefined) return [];
  const context: DeliveryContext = {
    client: input.client,
    facts: input.facts,
    measurements: input.measurements,
    now: input.now,
    written: input.written,
    retry: { attempts: settings.attempts, baseMs: settings.retryBaseMs, sleep: input.sleep ?? realSleep },
  };
  const results: DeliveryResult[] = [];
  // Each delivery's module loads when it is configured, on its first use: the DICOMweb one brings
  // got (with http2-wrapper and cacheable-request), which an HL7-only site never needs (issue 17).
  if (settings.forward !== undefined && settings.forward.modalities.length > 0) {
    const { forwardResults } = await import('./forward.js');
    results.push(await forwardResults(context, settings.forward));
  }
  if (settings.dicomweb !== undefined && settings.dicomweb.length > 0) {
    const { stowResults } = await import('./dicomweb.js');
    results.push(await stowResults(context, settings.dicomweb));
  }
  if (settings.hl7 !== undefined && (settings.hl7.dir !== undefined || settings.hl7.mllp !== undefined)) {
    const { deliverHl7 } = await import('./hl7/deliver.js');
    results.push(await deliverHl7(context, settings.hl7));
  }
  const failures = results.flatMap((r) => r.failures);
  if (failures.length > 0) throw new DeliveryError(failures, results.flatMap((r) => r.delivered));
  return results.map((r) => r.outcome);
}
