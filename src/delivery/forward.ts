/**
 * Forwarding (issue 9): the SR, and optionally the derived series with the private tags, sent to
 * other DICOM archives by Orthanc's own C-STORE, to modalities declared in its DicomModalities.
 */
import { messageOf, OrthancHttpError } from '../errors.js';
import type { ModalityStoreResult } from '../orthanc/types.js';
import type { DeliveryContext, DeliveryOutcome, DeliveryResult, ForwardDetails, ForwardedTo, WrittenOutputs } from './context.js';
import { DeliveryAttemptError, type DeliveryFailure } from './errors.js';
import { attempt } from '../retry.js';
import type { ForwardSettings } from './settings.js';

/** What this run wrote that can be sent: Orthanc IDs to store, DICOM UIDs to report. */
interface Sendable {
  readonly resources: readonly string[];
  readonly srSopInstanceUid?: string;
  readonly derivedSeries: readonly { readonly seriesInstanceUid: string; readonly instances: number }[];
}

/** One modality served (re-exported: its home is the outcome types in context.ts). */
export type { ForwardedTo } from './context.js';

/** Sends what the writer steps stored to every configured modality; each modality gets its own attempts. */
export async function forwardResults(context: DeliveryContext, settings: ForwardSettings): Promise<DeliveryResult<ForwardOutcome>> {
  const sendable = sendableOf(context.written, settings.derived);
  const base = { srSopInstanceUid: sendable.srSopInstanceUid, derivedSeries: sendable.derivedSeries };
  if (sendable.resources.length === 0) {
    const summary = `nothing to forward to ${settings.modalities.join(', ')}: this run stored no SR${settings.derived ? ' and no derived series' : ''}`;
    return { outcome: outcome(summary, { ...base, sent: [] }), delivered: [], failures: [] };
  }
  const sent: ForwardedTo[] = [];
  const failures: DeliveryFailure[] = [];
  for (const modality of settings.modalities) {
    const result = await attempt(context.retry, () => store(context, modality, sendable.resources, settings.timeoutMs));
    if (result.ok) {
      sent.push({ modality, remoteAet: result.value.RemoteAet, instances: countOf(sendable), attempts: result.attempts });
    } else {
      failures.push({ destination: `DICOM modality ${modality}`, message: failureText(modality, result.error), attempts: result.attempts, permanent: result.permanent });
    }
  }
  const what = describe(sendable);
  const delivered = sent.map((s) => `${what} sent to ${s.modality} (AE ${s.remoteAet})`);
  const summary = `${what} sent to ${sent.map((s) => `${s.modality} (AE ${s.remoteAet})`).join(', ')}`;
  return { outcome: outcome(summary, { ...base, sent }), delivered, failures };
}

async function store(context: DeliveryContext, modality: string, resources: readonly string[], timeoutMs: number): Promise<ModalityStoreResult> {
  const answer = await context.client.storeToModality(modality, resources, timeoutMs);
  // Orthanc only counts failures when asked to be permissive; checked anyway, so a partial store never passes as done.
  if (answer.FailedInstancesCount > 0) throw new DeliveryAttemptError(`${answer.FailedInstancesCount} of ${answer.InstancesCount} instances were refused by ${answer.RemoteAet}`);
  return answer;
}

/** The SR (Orthanc instance) and, when asked, each derived series (Orthanc series) this run stored. */
function sendableOf(written: WrittenOutputs, derived: boolean): Sendable {
  const resources: string[] = [];
  if (written.sr !== undefined) resources.push(written.sr.orthancInstanceId);
  const derivedSeries = derived ? written.derivedSeries : [];
  resources.push(...derivedSeries.map((s) => s.orthancId));
  return {
    resources,
    ...(written.sr !== undefined ? { srSopInstanceUid: written.sr.sopInstanceUid } : {}),
    derivedSeries: derivedSeries.map((s) => ({ seriesInstanceUid: s.seriesInstanceUid, instances: s.instances })),
  };
}

function failureText(modality: string, error: unknown): string {
  if (error instanceof OrthancHttpError && error.status === 404 && error.body.includes('No modality')) {
    return `Orthanc has no modality "${modality}" in its DicomModalities (check KV_FORWARD_MODALITIES and Orthanc's configuration)`;
  }
  return `C-STORE through Orthanc failed: ${messageOf(error)}`;
}

function countOf(sendable: Sendable): number {
  return (sendable.srSopInstanceUid !== undefined ? 1 : 0) + sendable.derivedSeries.reduce((n, s) => n + s.instances, 0);
}

function describe(sendable: Sendable): string {
  const parts = sendable.srSopInstanceUid !== undefined ? [`SR ${sendable.srSopInstanceUid}`] : [];
  if (sendable.derivedSeries.length > 0) {
    const images = sendable.derivedSeries.reduce((n, s) => n + s.instances, 0);
    parts.push(`${sendable.derivedSeries.length} derived series (${images} images)`);
  }
  return parts.join(' and ');
}

/** The forward delivery's outcome. */
type ForwardOutcome = Extract<DeliveryOutcome, { approach: 'forward' }>;

function outcome(summary: string, details: ForwardDetails): ForwardOutcome {
  return { approach: 'forward', summary, alreadyPresent: false, details };
}
