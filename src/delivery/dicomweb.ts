/**
 * DICOMweb delivery (issue 15): the SR, and optionally the derived series, sent by the sidecar
 * itself with STOW-RS (PS3.18 10.5) to each configured archive. The bytes sent are the ones
 * Orthanc stored (GET /instances/{id}/file), one instance per part of a multipart/related body,
 * so what arrives is byte-identical. The sidecar sends rather than asking Orthanc's DICOMweb
 * plugin: it works with an Orthanc without the plugin (Debian 12's), keeps each archive's
 * credentials in the sidecar's configuration instead of Orthanc's, and reads the archive's own
 * per-instance answer (the Failed SOP Sequence) instead of a job status.
 */
import { randomUUID } from 'node:crypto';
import got, { type RequestError } from 'got';
import { messageOf } from '../errors.js';
import type { OrthancClient } from '../orthanc/client.js';
import type { DeliveryContext, DeliveryOutcome, DeliveryResult, StoredAt, WrittenOutputs } from './context.js';
import { DeliveryAttemptError, type DeliveryFailure } from './errors.js';
import { attempt } from '../retry.js';
import type { DicomwebDestination } from './settings.js';

/** Instances per STOW-RS request: bounds the memory a derived series takes in the sidecar. */
export const STOW_BATCH = 20;

/** One archive served (re-exported: its home is the outcome types in context.ts). */
export type { StoredAt } from './context.js';

/** A STOW-RS answer that says some instances were not stored: nothing another attempt would change unless the archive says so. */
export class StowRefusedError extends DeliveryAttemptError {
  /** Makes the error; `permanent` when the archive refused the data itself (4xx other than 408/429). */
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message, permanent);
    this.name = 'StowRefusedError';
  }
}

/** Sends what the writer steps stored to every DICOMweb destination; each gets its own attempts. */
export async function stowResults(context: DeliveryContext, destinations: readonly DicomwebDestination[]): Promise<DeliveryResult<Extract<DeliveryOutcome, { approach: 'dicomweb' }>>> {
  const stored: StoredAt[] = [];
  const failures: DeliveryFailure[] = [];
  const delivered: string[] = [];
  for (const destination of destinations) {
    const instances = await instancesOf(context.client, context.written, destination.derived);
    if (instances.length === 0) continue;
    const result = await attempt(context.retry, () => stow(context.client, destination, instances));
    if (result.ok) {
      stored.push({ destination: destination.name, instances: instances.length, attempts: result.attempts });
      delivered.push(`${instances.length} instance(s) stored at DICOMweb ${destination.name}`);
    } else {
      failures.push({ destination: `DICOMweb ${destination.name} (${destination.url})`, message: messageOf(result.error), attempts: result.attempts, permanent: result.permanent });
    }
  }
  const summary = stored.length > 0 ? delivered.join(', ') : 'nothing to send over DICOMweb: this run stored no SR or derived series';
  return { outcome: { approach: 'dicomweb', summary, alreadyPresent: false, details: { stored } }, delivered, failures };
}

/** Orthanc IDs of the instances to send: the SR, then (when asked) every instance of each derived series. */
async function instancesOf(client: OrthancClient, written: WrittenOutputs, derived: boolean): Promise<string[]> {
  const ids: string[] = written.sr !== undefined ? [written.sr.orthancInstanceId] : [];
  if (derived) {
    for (const s of written.derivedSeries) ids.push(...(await client.seriesInstances(s.orthancId)).map((i) => i.ID));
  }
  return ids;
}

/** POSTs the instances in batches to {url}/studies; throws when any instance is not stored. */
async function stow(client: OrthancClient, destination: DicomwebDestination, instances: readonly string[]): Promise<void> {
  for (let i = 0; i < instances.length; i += STOW_BATCH) {
    const files = await Promise.all(instances.slice(i, i + STOW_BATCH).map((id) => client.instanceFile(id)));
    await post(destination, files);
  }
}

/** One STOW-RS request of Part-10 files. */
async function post(destination: DicomwebDestination, files: readonly Buffer[]): Promise<void> {
  const boundary = `kidney-volumes-${randomUUID()}`;
  const parts: Buffer[] = [];
  for (const file of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`, 'latin1'), file, Buffer.from('\r\n', 'latin1'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`, 'latin1'));
  const headers: Record<string, string> = {
    'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
    accept: 'application/dicom+json',
  };
  if (destination.token !== undefined) headers['authorization'] = `Bearer ${destination.token}`;
  let status: number;
  let body: string;
  try {
    const response = await got.post(`${destination.url.replace(/\/+$/, '')}/studies`, {
      body: Buffer.concat(parts),
      headers,
      ...(destination.username !== undefined ? { username: destination.username, password: destination.password ?? '' } : {}),
      timeout: { request: destination.timeoutMs },
      retry: { limit: 0 },
      throwHttpErrors: false,
    });
    status = response.statusCode;
    body = response.body;
  } catch (error) {
    // No answer at all (refused, reset, timeout): the archive may be back on the next attempt.
    const e = error as RequestError;
    throw new DeliveryAttemptError(`no answer from ${destination.url}: ${e.code ?? ''} ${e.message}`.trim());
  }
  const failed = failedSops(body);
  if (status === 200 && failed === 0) return;
  const detail = failed > 0 ? `${failed} of ${files.length} instance(s) refused (Failed SOP Sequence)` : body.slice(0, 200);
  // 4xx is the archive refusing the request or the data (bad credentials, not DICOM it accepts):
  // trying again will not help. 408, 429 and 5xx are its own trouble and may pass.
  const permanent = status >= 400 && status < 500 && status !== 408 && status !== 429;
  throw new StowRefusedError(`STOW-RS answered ${status}: ${detail}`, permanent);
}

/** How many instances a STOW-RS answer lists in its Failed SOP Sequence (0008,1198); 0 when the body is not DICOM JSON. */
function failedSops(body: string): number {
  try {
    const json = JSON.parse(body) as Record<string, { Value?: unknown[] } | undefined>;
    return json['00081198']?.Value?.length ?? 0;
  } catch {
    return 0;
  }
}
