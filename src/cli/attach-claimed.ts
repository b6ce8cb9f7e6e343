/**
 * `attach` for one study, through the study's status like the sidecar (issue 14): the status owns
 * "the current version". attach writes its measurements as the pending mark (compare-and-set, the
 * API's code path), then claims the study with the sidecar's own claim and lease and runs the
 * writers under it. A sidecar running at the same time sees the claim and leaves the study alone,
 * or holds it itself, and attach waits for its lease to end: the mark, the status and the stored
 * outputs never disagree.
 */
import { hostname } from 'node:os';
import { NotFoundError, RaceLostError } from '../errors.js';
import { markTextOf, writePersonMark } from '../inputs/person-mark.js';
import type { Logger } from '../log.js';
import type { MeasurementSet } from '../measurements/model.js';
import type { OrthancClient } from '../orthanc/client.js';
import { APPROACHES, type Approach, type Progress, type WriterSettings } from '../pipeline/approaches.js';
import { attach, requireAvailable, type AttachReport } from '../pipeline/attach.js';
import { SidecarEvents } from '../sidecar/events.js';
import { processStudy, type ProcessResult } from '../sidecar/processor.js';
import { readStatus, statusOf } from '../status/status.js';

/** The claim settings attach shares with the sidecar (from the configuration). */
export interface ClaimSettings {
  readonly leaseMs: number;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
}

/** What attach under a claim needs. */
export interface ClaimedAttachDeps {
  readonly client: OrthancClient;
  readonly settings: WriterSettings;
  readonly now: () => Date;
  readonly log: Logger;
  readonly leaseMs: number;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly progress?: (progress: Progress) => void;
  /** Told once when the study is held by somebody else and attach waits for it. */
  readonly waiting?: (owner: string, until: string) => void;
  /** How long to wait for another holder before giving up (default 15 minutes). */
  readonly maxWaitMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Writes the mark, then processes it under the study's claim; answers what was written or throws its cause. */
export async function attachClaimed(deps: ClaimedAttachDeps, study: string, set: MeasurementSet, approaches: readonly Approach[]): Promise<AttachReport> {
  requireAvailable(approaches);
  const { studyId, outcome } = await writePersonMark(deps.client, study, markTextOf(set), set, 'attach', deps.now());
  if (outcome === 'unchanged') {
    // Done at these very measurements: check the outputs without a claim, so a repeated attach
    // writes nothing when they are all there (a missing one is written again, with the same UIDs).
    const held = statusOf(await readStatus(deps.client, studyId));
    if (held?.state === 'done' && held.digest === set.digest) {
      return attach({ client: deps.client, settings: deps.settings, now: deps.now, ...(deps.progress ? { progress: deps.progress } : {}) }, studyId, set, approaches);
    }
  }
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const events = new SidecarEvents();
  const progress = deps.progress;
  if (progress) {
    events.subscribeProgress((p) => {
      const approach = APPROACHES.find((a) => a === p.approach);
      if (approach) progress({ approach, done: p.done, total: p.total });
    });
  }
  const processorDeps = {
    client: deps.client,
    settings: deps.settings,
    approaches,
    now: deps.now,
    events,
    log: deps.log,
    owner: `attach@${hostname()}:${process.pid}`,
    leaseMs: deps.leaseMs,
    // A transient fault fails this run at once (attach reports it); the status says waiting, and the sidecar tries again.
    maxAttempts: deps.maxAttempts,
    retryBaseMs: deps.retryBaseMs,
    rerun: true,
  };
  const deadline = Date.now() + (deps.maxWaitMs ?? 15 * 60_000);
  let told = false;
  for (;;) {
    const result: ProcessResult = await processStudy(processorDeps, studyId);
    switch (result.kind) {
      case 'done':
        return result.report;
      case 'failed':
      case 'retry':
        throw result.cause ?? new RaceLostError(`study ${studyId}: ${result.kind === 'failed' ? result.status.error ?? 'failed' : result.error}`, { studyId });
      case 'gone':
      case 'deleted':
        throw new NotFoundError('study', studyId);
      case 'nothing':
        // Only when the mark was removed between our write and the claim.
        throw new RaceLostError(`study ${studyId}: ${result.reason} (the mark was changed by another writer); try again`, { studyId });
      case 'busy': {
        if (Date.now() > deadline) throw new RaceLostError(`study ${studyId} is still held by ${result.owner}; try again later`, { studyId, owner: result.owner });
        if (!told) deps.waiting?.(result.owner, result.leaseUntil);
        told = true;
        const untilMs = Date.parse(result.leaseUntil);
        await sleep(Number.isFinite(untilMs) ? Math.min(Math.max(untilMs - Date.now(), 200), 2000) : 200);
      }
    }
  }
}
