/**
 * What the sidecar does with one study: read the pending mark, decide whether there is work,
 * claim the study with a compare-and-set on its status (a lease other replicas respect until it
 * expires), run the writer steps (each idempotent, so a crash at any moment is repaired by running
 * again) while the lease holds, and record the outcome. The attempt is counted when the study is
 * claimed, before any work, so a study that kills the process is failed after KV_MAX_ATTEMPTS
 * claims instead of being claimed by every restart and every replica for ever.
 */
import { errorKind, failureClass, messageOf, NotFoundError } from '../errors.js';
import { describeDiameters } from '../measurements/diameters.js';
import type { Measurement, MeasurementSet } from '../measurements/model.js';
import { parseMeasurementsJson, recordedDigest } from '../measurements/parse.js';
import type { OrthancClient } from '../orthanc/client.js';
import type { Approach, Progress, StepOutcome, WriterSettings } from '../pipeline/approaches.js';
import { attach, PartialAttachError, type AttachReport } from '../pipeline/attach.js';
import { growthSince, readCoverage, type StudyCoverage } from '../pipeline/coverage.js';
import { addedBytesOf } from '../pipeline/outcomes.js';
import { isSegMark, markSourceFor, originFor, parseInputs, type DicomOrigin } from '../measurements/origin.js';
import { markTextOf } from '../inputs/person-mark.js';
import { METADATA } from '../orthanc/metadata.js';
import type { Logger } from '../log.js';
import type { SidecarEvents } from './events.js';
import { Lease, LeaseLostError } from './lease.js';
import type { ClaimOutcome, SidecarMetrics } from './metrics.js';
import { backoffMs } from '../retry.js';
import {
  outputsOf,
  parseStatusText,
  finishStatus,
  statusOf,
  withVersion,
  writeFinalStatus,
  writeStatus,
  type HeldStatus,
  type StatusMeasurement,
  type StoredStatus,
  type StudyStatus,
  type VersionSource,
} from '../status/status.js';

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
  /** Claims of one version of a study's measurements before it is failed (transient faults and crashes both count). */
  readonly maxAttempts: number;
  /** First retry delay; doubles per attempt, at most 5 minutes. */
  readonly retryBaseMs: number;
  /** Process the study even when its status is already finished for these measurements (attach: written again, idempotently). */
  readonly rerun?: boolean;
  /** Where claim outcomes are counted (absent in tests that do not look). */
  readonly metrics?: Pick<SidecarMetrics, 'claims' | 'outputBytes'>;
}

/** How one check looks at a study. */
export interface CheckOptions {
  /**
   * Whether a done study is looked at for images added since (one read of its series; default
   * true). The sidecar passes false when only metadata changes announced the check: a study that
   * grows becomes stable again (StableStudy), and that change asks for the look (issue 17).
   */
  readonly growth?: boolean;
}

/** What came of one check of a study. */
export type ProcessResult =
  | { readonly kind: 'nothing'; readonly reason: string }
  | { readonly kind: 'gone' }
  | { readonly kind: 'done'; readonly status: StudyStatus; readonly report: AttachReport }
  /** `cause` is the error that failed it, when this call saw one (attach rethrows it, for its exit code). */
  | { readonly kind: 'failed'; readonly status: StudyStatus; readonly cause?: unknown }
  | { readonly kind: 'retry'; readonly afterMs: number; readonly error: string; readonly cause?: unknown }
  /** The study was deleted while being processed; what this run uploaded was removed, and no status written. */
  | { readonly kind: 'deleted'; readonly reason: string }
  | { readonly kind: 'busy'; readonly owner: string; readonly leaseUntil: string };

/** Checks one study and processes its pending measurements when there is work. */
export async function processStudy(deps: ProcessorDeps, studyId: string, seq?: number, check: CheckOptions = {}): Promise<ProcessResult> {
  const { client } = deps;
  // Every metadata of the study in one call (issue 17: the mark, the status and the inputs were
  // three reads, each 404 one more); the status is read again, with its revision, only before a write.
  let metadata: Record<string, string>;
  try {
    metadata = await client.studyMetadataAll(studyId);
  } catch (error) {
    // Deleted between the change that named it and this read: nothing to do, and nothing to write.
    if (error instanceof NotFoundError) return gone(deps, studyId, seq);
    throw error;
  }
  const pendingValue = metadata[METADATA.pending];
  if (pendingValue === undefined) return { kind: 'nothing', reason: 'no pending measurements' };
  const pending = { value: pendingValue };
  // Deciding needs the status' value only; its revision is read just before a write (revised).
  const statusText = metadata[METADATA.status];
  const stored = storedOf(statusText);
  const revised = (): Promise<StoredStatus | undefined> => withRevision(client, studyId, statusText, stored);
  if (stored.kind === 'unreadable') {
    // Somebody else's write (a broken client): reported, then replaced by the next write of ours.
    deps.log.warn({ studyId, event: 'status-unreadable', problem: stored.problem }, `${METADATA.status} is not a status (${stored.problem}); it will be replaced`);
  }
  const current = statusOf(stored);

  let set: MeasurementSet;
  try {
    set = parseMeasurementsJson(pending.value);
  } catch (error) {
    return failInvalid(deps, studyId, pending.value, stored, revised, error);
  }
  const finishedHere = current !== undefined && current.digest === set.digest && (current.state === 'done' || current.state === 'failed');
  const grown = current?.state === 'done' && current.digest === set.digest && check.growth !== false ? await grownSinceDone(deps, studyId, current) : undefined;
  // attach runs a finished version again on purpose (its writes are idempotent): new work, like a study that grew.
  const again = grown ?? (deps.rerun === true && finishedHere ? 'run again by attach' : undefined);
  if (finishedHere && again === undefined) {
    return { kind: 'nothing', reason: `already ${current.state} for these measurements` };
  }
  const now = deps.now();
  const heldByOther = current?.state === 'processing' && current.owner !== undefined && current.owner !== deps.owner;
  if (heldByOther && current.leaseUntil && Date.parse(current.leaseUntil) > now.getTime()) {
    return { kind: 'busy', owner: current.owner ?? '', leaseUntil: current.leaseUntil };
  }

  // A done study that grew is a new piece of work (its attempts start over), not a retry.
  const sameVersion = current !== undefined && current.digest === set.digest && current.state !== 'queued' && again === undefined;
  // A transient fault set a time for the next attempt: our own status write comes straight back
  // through the feed, and acting on it would spend every attempt at once instead of backing off.
  const waitMs = sameVersion && current.state === 'processing' && current.nextAttemptAt ? Date.parse(current.nextAttemptAt) - now.getTime() : 0;
  // attach, run by a person, does not wait for the backoff.
  if (waitMs > 0 && deps.rerun !== true) return { kind: 'retry', afterMs: waitMs, error: current?.error ?? 'waiting for the next attempt' };
  // A claim in processing that set no next attempt was never ended by its holder: the process died
  // holding it (killed, out of memory), or lost its lease. Counted, and failed once it used them all.
  const abandoned = sameVersion && current.state === 'processing' && current.nextAttemptAt === undefined;
  const crashes = (sameVersion ? current.crashes ?? 0 : 0) + (abandoned ? 1 : 0);
  if (abandoned && current.attempts >= deps.maxAttempts) return failCrashed(deps, studyId, revised, current, crashes, seq);
  const attempts = (sameVersion ? current.attempts : 0) + 1;
  // Measurements read from DICOM have their origin beside them, keyed by digest (issue 16).
  const inputs = parseInputs(metadata[METADATA.inputs]);
  const origin = originFor(inputs, set.digest);
  const source = sourceOf(origin, isSegMark(inputs, set), markSourceFor(inputs, set.digest));
  const claim: StudyStatus = {
    state: 'processing',
    digest: set.digest,
    measurements: set.measurements.map(statusMeasurement),
    attempts,
    ...(crashes > 0 ? { crashes } : {}),
    createdAt: sameVersion ? current.createdAt : now.toISOString(),
    updatedAt: now.toISOString(),
    owner: deps.owner,
    leaseUntil: new Date(now.getTime() + deps.leaseMs).toISOString(),
    source,
    ...(origin ? { origin } : {}),
    ...(current?.inputs ? { inputs: current.inputs } : {}),
    // The versions finished before this one; the claim never changes them (done appends this one).
    ...(current?.history ? { history: current.history } : {}),
  };
  const before = await revised();
  const claimed = before === undefined ? undefined : await writeStatus(client, studyId, before, claim);
  if (claimed === undefined) {
    // Another replica (or a retry request) wrote the status between our read and our write (409),
    // or just after our write, before its ETag was read back: either way this replica never held a
    // revision to renew or finish on, so it holds nothing, and the other write's change brings the
    // study back (test/scale/claims.test.ts forces both orders).
    count(deps, 'lost');
    deps.log.info({ studyId, seq, event: 'lost', stage: 'claim' }, 'another writer claimed the study first');
    return { kind: 'busy', owner: 'another writer', leaseUntil: '' };
  }
  const outcome: ClaimOutcome = heldByOther ? 'took-over' : 'claimed';
  count(deps, outcome);
  deps.events.emit({ kind: 'processing', studyId, at: now.toISOString(), digest: set.digest, ...(seq !== undefined ? { seq } : {}) });
  deps.log.info(
    { studyId, seq, digest: set.digest, attempt: attempts, ...(crashes > 0 ? { crashes } : {}), event: outcome, ...(heldByOther ? { previousOwner: current.owner, expiredAt: current.leaseUntil } : {}) },
    heldByOther ? `took the study over from ${current.owner ?? ''}, whose claim expired` : 'processing study',
  );

  const started = Date.now();
  const lease = new Lease({ client, log: deps.log, leaseMs: deps.leaseMs, now: deps.now }, studyId, claimed);
  const progress: { step?: Progress } = {};
  try {
    const report = await runSteps(deps, studyId, set, lease, progress, seq, origin, metadata);
    const { coverage } = report;
    const outcomes = [...report.outcomes];
    const held = await lease.release();
    const finished = deps.now();
    const { outputs, writes } = outputsOf(outcomes, finished);
    for (const o of outcomes) {
      const added = addedBytesOf(o);
      if (added > 0) deps.metrics?.outputBytes.inc({ approach: o.approach }, added);
    }
    const mark = keptMarkOf(set);
    const version = { digest: set.digest, at: finished.toISOString(), source, values: valuesText(set), ...(mark !== undefined ? { mark } : {}) };
    const done: StudyStatus = {
      ...withoutLease(held.status),
      state: 'done',
      updatedAt: finished.toISOString(),
      finishedAt: finished.toISOString(),
      outputs,
      writes,
      coverage,
      history: withVersion(held.status.history, version),
    };
    // A final write: its new ETag is not read back, nothing of ours writes over it (status.ts writeFinalStatus).
    if ((await finishStatus(client, studyId, held, done)) === undefined) {
      // A retry request or a takeover changed the status meanwhile: the outputs are written and
      // idempotent; the change it caused brings the study back, and the next check settles it.
      count(deps, 'lease-lost');
      deps.log.warn({ studyId, event: 'lost', stage: 'finish' }, 'status changed while processing; leaving it to the next check');
      return lookAgainAfter(lease, 'status changed while processing');
    }
    deps.events.emit({ kind: 'done', studyId, at: finished.toISOString(), digest: set.digest, durationMs: Date.now() - started });
    deps.log.info({ studyId, seq, digest: set.digest, durationMs: Date.now() - started, event: 'done' }, 'study done');
    return { kind: 'done', status: done, report };
  } catch (error) {
    const held = await lease.release();
    if (error instanceof LeaseLostError) {
      count(deps, 'lease-lost');
      deps.log.warn({ studyId, event: 'lost', stage: 'renew', reason: error.reason, during: progress.step }, 'claim lost while processing; writing nothing more');
      return lookAgainAfter(lease, error.message);
    }
    return handleFailure(deps, studyId, held, error, started);
  }
}

/**
 * Runs the writer steps and deliveries through attach, with the lease checked before each one and
 * at each progress report, so a replica that lost the study stops between writes; each write is
 * logged as it lands, so the logs of all replicas together say who wrote what.
 */
async function runSteps(
  deps: ProcessorDeps,
  studyId: string,
  set: MeasurementSet,
  lease: Lease,
  progress: { step?: Progress },
  seq: number | undefined,
  origin: DicomOrigin | undefined,
  metadataSeen: Readonly<Record<string, string>>,
): Promise<AttachReport> {
  return attach(
    {
      client: deps.client,
      settings: deps.settings,
      now: deps.now,
      progress: (p) => {
        progress.step = p;
        lease.check();
        deps.events.progress({ kind: 'progress', studyId, at: deps.now().toISOString(), approach: p.approach, done: p.done, total: p.total });
      },
      beforeStep: () => lease.check(),
      onWrite: (outcome) => deps.log.info({ studyId, seq, approach: outcome.approach, event: 'write', alreadyPresent: outcome.alreadyPresent }, outcome.summary),
      ...(origin ? { origin } : {}),
      metadataSeen,
    },
    studyId,
    set,
    deps.approaches,
  );
}

/**
 * How a done study grew since its run (images pushed after it was done), or undefined. Such a
 * study is processed again: the derived copies are completed and a new SR lists the new images.
 */
async function grownSinceDone(deps: ProcessorDeps, studyId: string, done: StudyStatus): Promise<string | undefined> {
  const coverage = readCoverage(done.coverage);
  if (coverage === undefined) return undefined;
  const growth = await growthSince(deps.client, studyId, coverage);
  if (growth !== undefined) deps.log.info({ studyId, event: 'grown', growth }, `study grew after it was done (${growth}); processing it again`);
  return growth;
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

async function handleFailure(deps: ProcessorDeps, studyId: string, held: HeldStatus, error: unknown, started: number): Promise<ProcessResult> {
  const claim = held.status;
  const kind = errorKind(error);
  const failure = failureClass(error);
  const message = messageOf(error);
  const now = deps.now();
  if (kind === 'not-found' && !(await studyExists(deps.client, studyId))) {
    // No status is written: a metadata write must never bring a deleted study back.
    deps.events.emit({ kind: 'deleted', studyId, at: now.toISOString(), digest: claim.digest, message, durationMs: Date.now() - started });
    deps.log.warn({ studyId, event: 'deleted' }, message);
    return { kind: 'deleted', reason: message };
  }
  // What the approaches that worked wrote stays listed beside the failure of the others.
  const partial = error instanceof PartialAttachError ? outputsOf(error.written, now) : {};
  if (failure === 'transient' && claim.attempts < deps.maxAttempts) {
    const afterMs = backoffMs(claim.attempts, deps.retryBaseMs, 300_000);
    const waiting: StudyStatus = { ...claim, ...partial, updatedAt: now.toISOString(), error: message, errorKind: kind, nextAttemptAt: new Date(now.getTime() + afterMs).toISOString() };
    await finishStatus(deps.client, studyId, held, waiting).catch((e: unknown) => deps.log.warn({ studyId, err: e }, 'could not record the retry'));
    deps.events.emit({ kind: 'retrying', studyId, at: now.toISOString(), digest: claim.digest, message });
    deps.log.warn({ studyId, attempt: claim.attempts, afterMs, kind, failure, event: 'retrying', err: error }, message);
    return { kind: 'retry', afterMs, error: message, cause: error };
  }
  const text =
    failure === 'transient'
      ? `${message} (gave up after ${claim.attempts} attempts; retry with "kidney-volumes retry ${studyId}")`
      : failure === 'bug'
        ? `${message} (an unexpected error, not retried: its stack is in the sidecar's log)`
        : message;
  const failed: StudyStatus = { ...withoutLease(claim), ...partial, state: 'failed', updatedAt: now.toISOString(), finishedAt: now.toISOString(), error: text, errorKind: kind };
  await finishStatus(deps.client, studyId, held, failed).catch((e: unknown) => deps.log.error({ studyId, err: e }, 'could not record the failure'));
  deps.events.emit({ kind: 'failed', studyId, at: now.toISOString(), digest: claim.digest, message: text, durationMs: Date.now() - started });
  // The error goes to the log as an object, with its stack: for a bug that is where the cause is.
  deps.log.error({ studyId, kind, failure, attempt: claim.attempts, event: 'failed', err: error }, text);
  return { kind: 'failed', status: failed, cause: error };
}

/** A study whose claims all ended with the process gone: failed without another try, saying so. */
async function failCrashed(
  deps: ProcessorDeps,
  studyId: string,
  revised: () => Promise<StoredStatus | undefined>,
  current: StudyStatus,
  crashes: number,
  seq: number | undefined,
): Promise<ProcessResult> {
  const now = deps.now().toISOString();
  const error =
    `processing this study crashed the process ${crashes} times (claimed ${current.attempts} times, never finished; ` +
    `out of memory or killed?), so it is not claimed again; find the cause in the logs, then "kidney-volumes retry ${studyId}"`;
  const failed: StudyStatus = { ...withoutLease(current), crashes, state: 'failed', updatedAt: now, finishedAt: now, error, errorKind: 'internal' };
  const before = await revised();
  if (before === undefined || (await writeFinalStatus(deps.client, studyId, before, failed)) === undefined) return { kind: 'busy', owner: 'another writer', leaseUntil: '' };
  deps.events.emit({ kind: 'failed', studyId, at: now, digest: current.digest, message: error });
  deps.log.error({ studyId, seq, attempts: current.attempts, crashes, event: 'poison' }, error);
  return { kind: 'failed', status: failed };
}

/** Invalid pending input fails this study alone, once per distinct input. */
async function failInvalid(
  deps: ProcessorDeps,
  studyId: string,
  raw: string,
  stored: StoredStatus,
  revised: () => Promise<StoredStatus | undefined>,
  error: unknown,
): Promise<ProcessResult> {
  const current = statusOf(stored);
  const digest = recordedDigest(raw);
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
    // The versions finished before stay the record (the current one is still the newest of them).
    ...(current?.history ? { history: current.history } : {}),
  };
  const before = await revised();
  if (before === undefined || (await writeFinalStatus(deps.client, studyId, before, status)) === undefined) return { kind: 'busy', owner: 'another writer', leaseUntil: '' };
  deps.events.emit({ kind: 'failed', studyId, at: now, digest, message: status.error ?? '' });
  deps.log.warn({ studyId, event: 'invalid-input' }, status.error);
  return { kind: 'failed', status };
}

/** A study deleted before it could be read: logged, and nothing written (writing would recreate nothing, but say nothing either). */
function gone(deps: ProcessorDeps, studyId: string, seq: number | undefined): ProcessResult {
  deps.log.info({ studyId, seq, event: 'gone' }, 'study no longer exists in Orthanc; nothing to do');
  return { kind: 'gone' };
}

/** The status a value read without its revision holds (as readStatus reads it, without the ETag). */
function storedOf(text: string | undefined): StoredStatus {
  if (text === undefined) return { kind: 'absent' };
  const parsed = parseStatusText(text);
  return parsed.ok ? { kind: 'readable', status: parsed.status } : { kind: 'unreadable', problem: parsed.problem };
}

/**
 * The status with its revision (ETag) for a compare-and-set, read just before the write; undefined
 * when it is no longer the value the decision was made on (somebody wrote meanwhile: as a lost race,
 * and the change they made brings the study back). An absent status is written create-only.
 */
async function withRevision(client: OrthancClient, studyId: string, seen: string | undefined, stored: StoredStatus): Promise<StoredStatus | undefined> {
  if (seen === undefined || stored.kind === 'absent') return stored;
  const revision = await client.studyMetadata(studyId, METADATA.status);
  if (revision === undefined || revision.value !== seen || revision.etag === undefined) return undefined;
  return { ...stored, etag: revision.etag };
}

function withoutLease(status: StudyStatus): StudyStatus {
  const { owner: _owner, leaseUntil: _lease, nextAttemptAt: _next, error: _error, errorKind: _kind, version: _version, ...rest } = status;
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
    ...(m.diameters ? { estimate: `ellipsoid of ${describeDiameters(m.diameters)}` } : {}),
  };
}

/**
 * Where a version came from: the DICOM object it was read from, a SEG (a mark the segmentation
 * trigger recorded writing, src/measurements/origin.ts isSegMark), the route a person used, else a mark
 * written straight into Orthanc (which may name a SEG: a person's mark all the same).
 */
function sourceOf(origin: DicomOrigin | undefined, bySeg: boolean, personRoute: VersionSource | undefined): VersionSource {
  if (origin) return origin.kind;
  if (bySeg) return 'seg';
  return personRoute ?? 'mark';
}

/** The set as the history keeps it for the next version's HL7 (src/inputs/released.ts); undefined if it cannot be written back exactly. */
function keptMarkOf(set: MeasurementSet): string | undefined {
  try {
    return markTextOf(set);
  } catch {
    return undefined;
  }
}

/** The values in one line for the history, e.g. "Right Kidney 125 mL, Left Kidney 132 mL". */
function valuesText(set: MeasurementSet): string {
  return set.measurements.map((m) => `${m.name} ${m.valueMl} mL`).join(', ');
}
