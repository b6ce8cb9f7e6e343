/**
 * What the sidecar does with one study: read the pending mark, decide whether there is work,
 * claim the study with a compare-and-set on its status (a lease other replicas respect until it
 * expires), run the writer steps (each idempotent, so a crash at any moment is repaired by running
 * again) while the lease holds, and record the outcome.
 */
import { createHash } from 'node:crypto';
import { errorKind, messageOf, OrthancHttpError, type ErrorKind } from '../errors.js';
import type { Measurement, MeasurementSet } from '../measurements/model.js';
import { parseMeasurementsJson } from '../measurements/parse.js';
import type { OrthancClient } from '../orthanc/client.js';
import type { Revisioned } from '../orthanc/types.js';
import type { Approach, Progress, StepOutcome, WriterSettings } from '../pipeline/approaches.js';
import { attach } from '../pipeline/attach.js';
import { METADATA } from '../pipeline/metadata.js';
import type { Logger } from '../log.js';
import type { SidecarEvents } from './events.js';
import { claimStatus, Lease, LeaseLostError } from './lease.js';
import type { ClaimOutcome, SidecarMetrics } from './metrics.js';
import { outputsOf, parseStatus, type StatusMeasurement, type StudyStatus } from './status.js';

/** What processing needs. */
export interface ProcessorDeps {
  readonly client: OrthancClient;
  readonly settings: WriterSettings;
  readonly approaches: readonly Approach[];
  readonly now: () => Date;
  readonly events: SidecarEvents;
  readonly log: Logger;
  /** This replica's name, written into the status while it holds the study. */
  readonly owner: string;
  /** How long a claim holds before another replica may take the study over; renewed every third of it. */
  readonly leaseMs: number;
  /** Attempts before a study with transient faults is failed. */
  readonly maxAttempts: number;
  /** First retry delay; doubles per attempt, at most 5 minutes. */
  readonly retryBaseMs: number;
  /** Where claim outcomes are counted (absent in tests that do not look). */
  readonly metrics?: Pick<SidecarMetrics, 'claims' | 'outputBytes'>;
}

/** What came of one check of a study. */
export type ProcessResult =
  | { readonly kind: 'nothing'; readonly reason: string }
  | { readonly kind: 'done'; readonly status: StudyStatus }
  | { readonly kind: 'failed'; readonly status: StudyStatus }
  | { readonly kind: 'retry'; readonly afterMs: number; readonly error: string }
  | { readonly kind: 'busy'; readonly owner: string; readonly leaseUntil: string };

/** Errors worth another attempt: Orthanc away or overloaded, a lost race, a bug that may pass. */
const TRANSIENT: ReadonlySet<ErrorKind> = new Set(['orthanc-unreachable', 'orthanc-http', 'orthanc-auth', 'conflict', 'internal', 'delivery']);

/** Checks one study and processes its pending measurements when there is work. */
export async function processStudy(deps: ProcessorDeps, studyId: string, seq?: number): Promise<ProcessResult> {
  const { client } = deps;
  const pending = await client.studyMetadata(studyId, METADATA.pending);
  if (pending === undefined) return { kind: 'nothing', reason: 'no pending measurements' };
  const statusRevision = await client.studyMetadata(studyId, METADATA.status);
  const current = statusRevision ? parseStatus(statusRevision.value) : undefined;

  let set: MeasurementSet;
  try {
    set = parseMeasurementsJson(pending.value);
  } catch (error) {
    return failInvalid(deps, studyId, pending.value, current, statusRevision, error);
  }
  if (current && current.digest === set.digest && (current.state === 'done' || current.state === 'failed')) {
    return { kind: 'nothing', reason: `already ${current.state} for these measurements` };
  }
  const now = deps.now();
  const heldByOther = current?.state === 'processing' && current.owner !== undefined && current.owner !== deps.owner;
  if (heldByOther && current.leaseUntil && Date.parse(current.leaseUntil) > now.getTime()) {
    return { kind: 'busy', owner: current.owner ?? '', leaseUntil: current.leaseUntil };
  }

  const sameVersion = current !== undefined && current.digest === set.digest && current.state !== 'queued';
  // A transient fault set a time for the next attempt: our own status write comes straight back
  // through the feed, and acting on it would spend every attempt at once instead of backing off.
  const waitMs = sameVersion && current.state === 'processing' && current.nextAttemptAt ? Date.parse(current.nextAttemptAt) - now.getTime() : 0;
  if (waitMs > 0) return { kind: 'retry', afterMs: waitMs, error: current?.error ?? 'waiting for the next attempt' };
  const attempts = (sameVersion ? current.attempts : 0) + 1;
  const claim: StudyStatus = {
    state: 'processing',
    digest: set.digest,
    measurements: set.measurements.map(statusMeasurement),
    attempts,
    createdAt: sameVersion ? current.createdAt : now.toISOString(),
    updatedAt: now.toISOString(),
    owner: deps.owner,
    leaseUntil: new Date(now.getTime() + deps.leaseMs).toISOString(),
  };
  const etag = await claimStatus(client, studyId, claim, statusRevision?.etag);
  if (etag === undefined) {
    // Another replica (or a retry request) wrote the status between our read and our write.
    count(deps, 'lost');
    deps.log.info({ studyId, seq, event: 'lost', stage: 'claim' }, 'another writer claimed the study first');
    return { kind: 'busy', owner: 'another writer', leaseUntil: '' };
  }
  const outcome: ClaimOutcome = heldByOther ? 'took-over' : 'claimed';
  count(deps, outcome);
  deps.events.emit({ kind: 'processing', studyId, at: now.toISOString(), digest: set.digest, ...(seq !== undefined ? { seq } : {}) });
  deps.log.info(
    { studyId, seq, digest: set.digest, attempt: attempts, event: outcome, ...(heldByOther ? { previousOwner: current.owner, expiredAt: current.leaseUntil } : {}) },
    heldByOther ? `took the study over from ${current.owner ?? ''}, whose claim expired` : 'processing study',
  );

  const started = Date.now();
  const lease = new Lease({ client, log: deps.log, leaseMs: deps.leaseMs, now: deps.now }, studyId, claim, etag);
  const progress: { step?: Progress } = {};
  try {
    const outcomes = await runSteps(deps, studyId, set, lease, progress, seq);
    const held = await lease.release();
    const finished = deps.now();
    const { outputs, writes } = outputsOf(outcomes, finished);
    for (const o of outcomes) {
      const added = o.details['addedBytes'];
      if (typeof added === 'number' && added > 0) deps.metrics?.outputBytes.inc({ approach: o.approach }, added);
    }
    const done: StudyStatus = { ...withoutLease(held.status), state: 'done', updatedAt: finished.toISOString(), finishedAt: finished.toISOString(), outputs, writes };
    if (!(await finish(client, studyId, done, held.etag))) {
      // A retry request or a takeover changed the status meanwhile: the outputs are written and
      // idempotent; the change it caused brings the study back, and the next check settles it.
      count(deps, 'lease-lost');
      deps.log.warn({ studyId, event: 'lost', stage: 'finish' }, 'status changed while processing; leaving it to the next check');
      return lookAgainAfter(lease, 'status changed while processing');
    }
    deps.events.emit({ kind: 'done', studyId, at: finished.toISOString(), digest: set.digest, durationMs: Date.now() - started });
    deps.log.info({ studyId, seq, digest: set.digest, durationMs: Date.now() - started, event: 'done' }, 'study done');
    return { kind: 'done', status: done };
  } catch (error) {
    const held = await lease.release();
    if (error instanceof LeaseLostError) {
      count(deps, 'lease-lost');
      deps.log.warn({ studyId, event: 'lost', stage: 'renew', reason: error.reason, during: progress.step }, 'claim lost while processing; writing nothing more');
      return lookAgainAfter(lease, error.message);
    }
    return handleFailure(deps, studyId, held.status, held.etag, error, started);
  }
}

/**
 * Runs the writer steps and deliveries through attach, with the lease checked before each one and
 * at each progress report, so a replica that lost the study stops between writes; each write is
 * logged as it lands, so the logs of all replicas together say who wrote what.
 */
async function runSteps(deps: ProcessorDeps, studyId: string, set: MeasurementSet, lease: Lease, progress: { step?: Progress }, seq: number | undefined): Promise<StepOutcome[]> {
  const report = await attach(
    {
      client: deps.client,
      settings: deps.settings,
      now: deps.now,
      progress: (p) => {
        progress.step = p;
        lease.check();
      },
      beforeStep: () => lease.check(),
      onWrite: (outcome) => deps.log.info({ studyId, seq, approach: outcome.approach, event: 'write', alreadyPresent: outcome.alreadyPresent }, outcome.summary),
    },
    studyId,
    set,
    deps.approaches,
  );
  return [...report.outcomes];
}

/**
 * A lost lease may have been lost to nobody (Orthanc too slow to renew it): look at the study
 * again once it has surely ended, when whoever holds it then, maybe this replica again, goes on.
 */
function lookAgainAfter(lease: Lease, reason: string): ProcessResult {
  return { kind: 'retry', afterMs: Math.max(0, lease.untilMs - Date.now()) + 250, error: reason };
}

function count(deps: ProcessorDeps, outcome: ClaimOutcome): void {
  deps.metrics?.claims.inc({ outcome });
}

async function handleFailure(deps: ProcessorDeps, studyId: string, claim: StudyStatus, etag: string, error: unknown, started: number): Promise<ProcessResult> {
  const kind = errorKind(error);
  const message = messageOf(error);
  const now = deps.now();
  if (kind === 'not-found' && !(await studyExists(deps.client, studyId))) {
    deps.log.warn({ studyId, event: 'gone' }, 'study was deleted while being processed');
    return { kind: 'nothing', reason: 'study deleted' };
  }
  if (TRANSIENT.has(kind) && claim.attempts < deps.maxAttempts) {
    const afterMs = Math.min(deps.retryBaseMs * 2 ** (claim.attempts - 1), 300_000);
    const waiting: StudyStatus = { ...claim, updatedAt: now.toISOString(), error: message, errorKind: kind, nextAttemptAt: new Date(now.getTime() + afterMs).toISOString() };
    await finish(deps.client, studyId, waiting, etag).catch((e: unknown) => deps.log.warn({ studyId, err: messageOf(e) }, 'could not record the retry'));
    deps.events.emit({ kind: 'retrying', studyId, at: now.toISOString(), digest: claim.digest, message });
    deps.log.warn({ studyId, attempt: claim.attempts, afterMs, kind, event: 'retrying' }, message);
    return { kind: 'retry', afterMs, error: message };
  }
  const failed: StudyStatus = {
    ...withoutLease(claim),
    state: 'failed',
    updatedAt: now.toISOString(),
    finishedAt: now.toISOString(),
    error: TRANSIENT.has(kind) ? `${message} (gave up after ${claim.attempts} attempts; retry with "kidney-volumes retry ${studyId}")` : message,
    errorKind: kind,
  };
  await finish(deps.client, studyId, failed, etag).catch((e: unknown) => deps.log.error({ studyId, err: messageOf(e) }, 'could not record the failure'));
  deps.events.emit({ kind: 'failed', studyId, at: now.toISOString(), digest: claim.digest, message: failed.error ?? message, durationMs: Date.now() - started });
  deps.log.error({ studyId, kind, event: 'failed' }, failed.error ?? message);
  return { kind: 'failed', status: failed };
}

/** Invalid pending input fails this study alone, once per distinct input. */
async function failInvalid(
  deps: ProcessorDeps,
  studyId: string,
  raw: string,
  current: StudyStatus | undefined,
  revision: Revisioned | undefined,
  error: unknown,
): Promise<ProcessResult> {
  const digest = createHash('sha256').update(raw).digest('hex');
  if (current && current.digest === digest && current.state === 'failed') return { kind: 'nothing', reason: 'already failed for this input' };
  const now = deps.now().toISOString();
  const status: StudyStatus = {
    state: 'failed',
    digest,
    measurements: [],
    attempts: 1,
    createdAt: now,
    updatedAt: now,
    finishedAt: now,
    error: `${METADATA.pending} is invalid: ${messageOf(error)}`,
    errorKind: errorKind(error),
  };
  const etag = await claimStatus(deps.client, studyId, status, revision?.etag);
  if (etag === undefined) return { kind: 'busy', owner: 'another writer', leaseUntil: '' };
  deps.events.emit({ kind: 'failed', studyId, at: now, digest, message: status.error ?? '' });
  deps.log.warn({ studyId, event: 'invalid-input' }, status.error);
  return { kind: 'failed', status };
}

/** Replaces our own claim; false when a retry request or a takeover came in between (409). */
async function finish(client: OrthancClient, studyId: string, status: StudyStatus, etag: string): Promise<boolean> {
  try {
    await client.putStudyMetadata(studyId, METADATA.status, JSON.stringify(status), etag);
    return true;
  } catch (error) {
    if (error instanceof OrthancHttpError && error.status === 409) return false;
    throw error;
  }
}

function withoutLease(status: StudyStatus): StudyStatus {
  const { owner: _owner, leaseUntil: _lease, nextAttemptAt: _next, error: _error, errorKind: _kind, ...rest } = status;
  return rest;
}

async function studyExists(client: OrthancClient, studyId: string): Promise<boolean> {
  try {
    await client.study(studyId);
    return true;
  } catch {
    return false;
  }
}

/** What the status says of one measurement: its value, anatomy, and where it came from (a person or a SEG). */
function statusMeasurement(m: Measurement): StatusMeasurement {
  return {
    name: m.name,
    valueMl: m.valueMl,
    ...(m.anatomy ? { anatomy: m.anatomy } : {}),
    ...(m.method ? { method: m.method } : {}),
    ...(m.source ? { source: m.source } : {}),
    ...(m.segmentation ? { segmentation: m.segmentation } : {}),
  };
}
