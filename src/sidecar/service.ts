/**
 * The sidecar daemon: follows Orthanc's changes feed from a durable cursor, sweeps for pending
 * studies the feed cannot show, and processes each study through processStudy. The feed reader
 * and the workers run apart: a worker takes the next study as soon as it is free, whatever the
 * others are doing, and the cursor advances to just before the earliest change whose study is not
 * checked yet, so a restart after a crash reads again every change whose study was in hand.
 * Stable series (SEGs to measure, other systems' SRs to read) are work too: the feed reader only
 * queues them, and a worker of their own downloads and decodes them, so a large SEG never stalls the feed.
 */
import { errorKind, failureClass, messageOf } from '../errors.js';
import type { ChangesFollowerDeps } from '../orthanc/follower.js';
import type { OrthancChange } from '../orthanc/types.js';
import type { ByteBudget } from '../pipeline/byte-budget.js';
import { createPool, type Pool } from '../pipeline/concurrency.js';
import { backoffMs } from '../retry.js';
import type { SegmentationSettings } from '../segmentation/settings.js';
import type { CursorStore } from './cursor.js';
import type { SidecarEvents } from './events.js';
import type { SidecarMetrics } from './metrics.js';
import { OwnWrites } from './own-writes.js';
import { processStudy, type ProcessorDeps } from './processor.js';
import { StudyQueue, type Taken } from './queue.js';
import { onStableSeries } from './segmentation-trigger.js';
import { OutcomeLabels, type LabelSettings } from '../orthanc/labels.js';
import { Sweep } from './sweep.js';
import type { DicomInputSettings } from '../inputs/settings.js';
import { onStableSeriesInputs } from './dicom-input-trigger.js';

/** Change types that may mean a study has new pending measurements. */
const TRIGGERS = new Set(['UpdatedMetadata', 'StableStudy']);
/** Changes read per page. */
const PAGE = 200;
/** Shortest time between two writes of the cursor file. */
const CURSOR_SAVE_MS = 1000;
/** Studies waiting beyond which the feed is not read further until workers catch up. */
const MAX_WAITING = 2000;
/** Longest wait of the feed reader after repeated failures, and of a study whose checks keep failing. */
const MAX_BACKOFF_MS = 30_000;

/** Settings and I/O of the daemon. */
export interface SidecarDeps extends ChangesFollowerDeps {
  readonly processor: ProcessorDeps;
  readonly cursor: CursorStore;
  readonly events: SidecarEvents;
  readonly metrics: SidecarMetrics;
  readonly sweepIntervalMs: number;
  /** Where a first start begins: Orthanc's current head (default) or the start of the log. */
  readonly startFrom: 'head' | 'beginning';
  /** Whether and how stable SEG series are measured (issue 8). */
  readonly segmentation: SegmentationSettings;
  /** Bytes of files held at once by the SEG measurements (default: the process's budget, shared with the private step). */
  readonly budget?: ByteBudget;
  /** Whether other systems' SRs and the original tool's private tags are read (issue 16); absent: neither. */
  readonly inputs?: DicomInputSettings;
  /** Studies processed at once (default 1); Orthanc does the heavy work, so a few overlap well. */
  readonly concurrency?: number;
  /** Request and outcome labels (used on an Orthanc with labels), and how often labelled studies are looked for. */
  readonly labels?: LabelSettings;
  readonly labelIntervalMs?: number;
}

/** The running daemon. */
export class Sidecar {
  private readonly queue = new StudyQueue();
  /** This replica's metadata writes per study, so the feed skips the changes they cause (issue 17). */
  private readonly ownWrites = new OwnWrites();
  private readonly pool: Pool;
  private readonly concurrency: number;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  /** Stable series waiting or in hand, each with the earliest change that announced it (it holds the cursor back like a study). */
  private readonly series = new Map<string, SeriesJob>();
  /**
   * One worker of their own for stable series: every series of every study becomes stable, and in
   * the studies' pool they would queue ahead of the marked studies (a burst of 200 uploads held
   * 200 series checks before the next study). SEG memory is bounded by the byte budget anyway.
   */
  private readonly seriesPool = createPool(1);
  /** Studies whose next check looks for images added since they were done (a StableStudy change, a sweep, a wake-up). */
  private readonly growthWanted = new Set<string>();
  /** Checks of a study that failed in a row before its claim (Orthanc away), for its backoff. */
  private readonly checkFailures = new Map<string, number>();
  /** The last change handled (the file may be up to CURSOR_SAVE_MS behind). */
  private cursorSeq = -1;
  /** When the cursor file was last written, and the timer of the next write while one waits. */
  private cursorSavedAt = 0;
  private cursorTimer: NodeJS.Timeout | undefined;
  /** The last change read (at or after cursorSeq: changes read whose studies are not checked yet lie between). */
  private readSeq = -1;
  private stopping = false;
  /** A wake-up asked for the feed to be read while a read was in flight (the Lua script's call came then). */
  private feedWanted = false;
  private running: Promise<void> | undefined;
  private readonly sweeper: Sweep;
  private readonly outcomeLabels: OutcomeLabels | undefined;
  private orthancReachable = false;

  constructor(private readonly deps: SidecarDeps) {
    this.concurrency = Math.max(1, deps.concurrency ?? 1);
    this.pool = createPool(this.concurrency);
    const { labels } = deps;
    this.outcomeLabels = labels ? new OutcomeLabels(deps.client, labels, () => this.sweeper.orthancFeatures(), deps.log) : undefined;
    this.sweeper = new Sweep({
      ...deps,
      intervalMs: deps.sweepIntervalMs,
      enqueue: (studyId) => this.enqueue(studyId),
      reflect: (studyId, state) => this.outcomeLabels?.reflect(studyId, state),
    });
    // Outcome labels follow the status writes, which the processor announces as events.
    deps.events.subscribe((event) => {
      if (event.kind === 'processing' || event.kind === 'done' || event.kind === 'failed') this.outcomeLabels?.reflect(event.studyId, event.kind);
    });
  }

  /** True once the cursor is loaded and the last call to Orthanc succeeded. */
  get ready(): boolean {
    return this.cursorSeq >= 0 && this.orthancReachable;
  }

  /** The last change handled. */
  get cursor(): number {
    return this.cursorSeq;
  }

  /** Studies waiting. */
  get queueLength(): number {
    return this.queue.length;
  }

  /** Starts following Orthanc; resolves once the loop runs. */
  start(): void {
    this.running = this.loop();
  }

  /** Asks for a study to be checked now (HTTP API, Lua callback), or for the feed to be read now. */
  wake(studyId?: string): void {
    if (studyId !== undefined) this.enqueue(studyId);
    else {
      // Kept until the next read of the feed begins: a wake-up that comes while a read is in flight
      // (which may have missed the new change) asks for one more read instead of waiting a poll interval.
      this.feedWanted = true;
      this.queue.signal();
    }
  }

  /** Stops: finishes the studies in hand, saves the cursor, and resolves. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.queue.signal();
    for (const timer of this.retryTimers.values()) clearTimeout(timer);
    await this.running;
    await this.outcomeLabels?.flush();
  }

  /** Reads the feed until stopped; the workers run beside it, started by pump(). */
  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        if (this.cursorSeq < 0) await this.loadCursor();
        await this.sweeper.turn();
        // Back-pressure: with this many studies waiting, reading on would only grow the queue.
        const reading = this.queue.length + this.series.size < MAX_WAITING;
        if (reading) this.feedWanted = false;
        const found = reading ? await this.readFeed() : false;
        this.orthancReachable = true;
        failures = 0;
        await this.waitToRead(found);
      } catch (error) {
        failures++;
        this.orthancReachable = errorKind(error) !== 'orthanc-unreachable' && errorKind(error) !== 'orthanc-auth';
        const delay = backoffMs(failures + 1, this.deps.pollIntervalMs, MAX_BACKOFF_MS);
        this.deps.log.error({ event: 'loop-error', kind: errorKind(error), failure: failureClass(error), retryInMs: delay, err: error }, messageOf(error));
        await this.queue.wait(delay);
      }
    }
    // Studies in hand finish (each is idempotent, but a finished one need not be redone); the ones
    // still waiting keep the cursor before their changes.
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    this.advanceCursor();
    if (this.cursorSeq >= 0) this.writeCursor();
    this.deps.log.info({ event: 'stopped', cursor: this.cursorSeq, waiting: this.queue.length }, 'sidecar stopped');
  }

  /**
   * Waits until the feed is worth reading again: at once when the last page found changes or a
   * wake-up came while it was read; otherwise at the next poll, or earlier when a wake-up comes or
   * a study is finished (its worker is free). All of that only while the workers will soon want
   * more studies: while more wait than there are workers, new changes could only join the end of
   * the queue, and the feed is read at the poll interval. In a burst it was read after nearly every
   * write of every study, a request each time for Orthanc and for us (issue 17).
   */
  private async waitToRead(found: boolean): Promise<void> {
    const until = Date.now() + this.deps.pollIntervalMs;
    if (this.stopping || ((found || this.feedWanted) && this.hungry())) return;
    for (;;) {
      const left = until - Date.now();
      if (left <= 0) return;
      await this.queue.wait(left);
      // Woken early: by a wake-up, a study finished or queued, or stop.
      if (this.stopping || this.hungry()) return;
    }
  }

  /** Whether the workers will soon want more: fewer studies wait than there are workers, and the queue has room. */
  private hungry(): boolean {
    return this.queue.length < this.concurrency && this.queue.length + this.series.size < MAX_WAITING;
  }

  private async loadCursor(): Promise<void> {
    const saved = this.deps.cursor.load();
    if (saved) {
      this.cursorSeq = saved.seq;
    } else {
      this.cursorSeq = this.deps.startFrom === 'beginning' ? 0 : await this.deps.client.lastChangeSeq();
      this.deps.cursor.save(this.cursorSeq, new Date());
    }
    this.readSeq = this.cursorSeq;
    this.deps.metrics.cursor.set(this.cursorSeq);
    this.deps.log.info({ event: 'cursor', cursor: this.cursorSeq, first: saved === undefined }, 'following Orthanc changes');
  }

  /** Reads one page of changes and queues the studies it names. Answers true when more pages wait. */
  private async readFeed(): Promise<boolean> {
    const page = await this.deps.client.changes(this.readSeq, PAGE);
    if (page.Last < this.readSeq) {
      // Orthanc's log went backwards: its database was reset or restored. Start over from its
      // beginning and sweep, since the changes we missed are gone.
      this.deps.log.warn({ event: 'log-reset', cursor: this.readSeq, last: page.Last }, "Orthanc's changes log went backwards; starting over");
      this.readSeq = 0;
      this.ownWrites.forget();
      this.saveCursor(0, true);
      this.sweeper.restart();
      return true;
    }
    this.ownWrites.expire();
    for (const change of page.Changes) {
      if (this.stopping) return false;
      // A change our own work on the study caused needs no check (src/sidecar/own-writes.ts says why
      // skipping by count never misses a person's write); the study in hand holds the cursor before it.
      if (change.ResourceType === 'Study' && change.ChangeType === 'UpdatedMetadata' && this.ownWrites.take(change.ID, change.Seq)) this.queue.hold(change.ID, change.Seq);
      else if (change.ResourceType === 'Study' && TRIGGERS.has(change.ChangeType)) this.enqueue(change.ID, change.Seq, change.ChangeType === 'StableStudy');
      // A stable SEG series may turn into a pending mark (issue 8); its write comes back as UpdatedMetadata.
      else if (change.ResourceType === 'Series' && change.ChangeType === 'StableSeries') this.enqueueSeries(change);
      // Created (again, after a deletion took its changes out of the log) or deleted: units counted before do not apply.
      if (change.ResourceType === 'Study' && !TRIGGERS.has(change.ChangeType)) this.ownWrites.forget(change.ID);
    }
    this.readSeq = Math.max(this.readSeq, page.Last);
    this.advanceCursor();
    this.deps.metrics.lag.set(page.Done ? 0 : Math.max(0, page.Last - this.cursorSeq));
    // Marks that came while the page was being read are already in the log: read them as soon as
    // the workers want them rather than after a poll interval.
    return !page.Done || page.Changes.length > 0;
  }

  /**
   * Queues a stable series for the workers. A series announced again while in hand (new instances,
   * stable again) runs once more afterwards; one announced again while waiting keeps its earliest change.
   */
  private enqueueSeries(change: OrthancChange): void {
    const job = this.series.get(change.ID);
    if (job) {
      job.seq = Math.min(job.seq, change.Seq);
      if (job.running) job.again = true;
      return;
    }
    this.series.set(change.ID, { seq: change.Seq, scheduled: false, running: false, again: false, failures: 0 });
    this.startSeries(change.ID);
  }

  /** Hands a waiting series job to the series worker. */
  private startSeries(seriesId: string): void {
    const job = this.series.get(seriesId);
    if (!job || job.scheduled || this.stopping) return;
    job.scheduled = true;
    const work: Promise<void> = this.seriesPool(async () => {
      // Stopping: leave it waiting, so the cursor stays before its change and a restart reads it again.
      if (this.stopping) return;
      job.running = true;
      job.again = false;
      await this.stableSeries(seriesId, job);
    }).finally(() => {
      this.inFlight.delete(work);
      job.running = false;
      job.scheduled = false;
      if (this.series.get(seriesId) === job && job.again && !job.retrying) this.startSeries(seriesId);
      this.advanceCursor();
      this.pump();
    });
    this.inFlight.add(work);
  }

  /**
   * One stable series. Orthanc being away is tried again after a backoff (the series keeps the
   * cursor before its change meanwhile, so a restart reads it again); anything else is this
   * series' alone: logged, and the series is done.
   */
  private async stableSeries(seriesId: string, job: SeriesJob): Promise<void> {
    try {
      // Read once for both triggers; a series deleted meanwhile is nothing to either.
      const wanted = this.deps.segmentation.enabled || this.deps.inputs !== undefined;
      const series = !wanted ? undefined : await this.deps.client.series(seriesId).catch((error: unknown) => {
        if (errorKind(error) === 'not-found') return undefined;
        throw error;
      });
      if (series) {
        await onStableSeries(this.deps, seriesId, series);
        // Other systems' SRs and the original tool's blocks (issue 16); their writes also come back as UpdatedMetadata.
        if (this.deps.inputs) await onStableSeriesInputs({ ...this.deps, inputs: this.deps.inputs }, seriesId, series);
      }
      if (!job.again) this.series.delete(seriesId);
    } catch (error) {
      const failure = failureClass(error);
      if (failure === 'transient' && !this.stopping) {
        job.failures++;
        const afterMs = backoffMs(job.failures, this.deps.pollIntervalMs, MAX_BACKOFF_MS);
        this.deps.log.warn({ event: 'segmentation-error', seriesId, seq: job.seq, kind: errorKind(error), failure, retryInMs: afterMs, err: error }, messageOf(error));
        job.retrying = true;
        const timer = setTimeout(() => {
          this.retryTimers.delete(`series:${seriesId}`);
          job.retrying = false;
          this.startSeries(seriesId);
        }, afterMs);
        timer.unref();
        this.retryTimers.set(`series:${seriesId}`, timer);
        return;
      }
      this.deps.log.error({ event: 'segmentation-error', seriesId, seq: job.seq, kind: errorKind(error), failure, err: error }, messageOf(error));
      if (!job.again) this.series.delete(seriesId);
    }
  }

  /** Starts workers while there are free ones and studies no worker holds. */
  private pump(): void {
    while (!this.stopping && this.pool.activeCount + this.pool.pendingCount < this.concurrency) {
      const next = this.queue.take();
      if (next === undefined) break;
      const work: Promise<void> = this.pool(() => this.work(next)).finally(() => {
        this.inFlight.delete(work);
        this.queue.done(next.studyId);
        this.advanceCursor();
        this.deps.metrics.queueLength.set(this.queue.length);
        this.pump();
      });
      this.inFlight.add(work);
    }
    this.deps.metrics.queueLength.set(this.queue.length);
  }

  /**
   * Checks one study, and keeps whatever goes wrong with it to that study: Orthanc away is tried
   * again after a backoff of its own; anything else (a study deleted meanwhile, a bug) is logged,
   * with the stack, and the study is left until a change brings it back. Never throws.
   */
  private async work(next: Taken): Promise<void> {
    const { studyId, seq } = next;
    this.ownWrites.begin(studyId);
    try {
      await this.check(studyId, seq);
      this.checkFailures.delete(studyId);
      this.orthancReachable = true;
    } catch (error) {
      const failure = failureClass(error);
      if (errorKind(error) === 'orthanc-unreachable') this.orthancReachable = false;
      if (failure === 'transient' && !this.stopping) {
        const failures = (this.checkFailures.get(studyId) ?? 0) + 1;
        this.checkFailures.set(studyId, failures);
        const afterMs = backoffMs(failures, this.deps.pollIntervalMs, MAX_BACKOFF_MS);
        this.deps.log.warn({ event: 'check-error', studyId, seq, kind: errorKind(error), failure, retryInMs: afterMs, err: error }, messageOf(error));
        this.retryLater(studyId, afterMs);
      } else {
        this.checkFailures.delete(studyId);
        this.deps.log.error({ event: 'check-error', studyId, seq, kind: errorKind(error), failure, err: error }, messageOf(error));
      }
    } finally {
      // A write of ours that lost or failed is no change to count on: check again, from the first
      // change skipped (still held: the study is in hand until this returns).
      const settled = this.ownWrites.settle(studyId);
      if (settled.checkAgain) this.enqueue(studyId, settled.seq, false);
    }
  }

  private async check(studyId: string, seq: number | undefined): Promise<void> {
    // Our own status writes come back as UpdatedMetadata: those checks need not read the series again.
    // Its metadata writes go through a client that counts them (own-writes.ts).
    const processor = { ...this.deps.processor, client: this.ownWrites.track(this.deps.processor.client, studyId) };
    const result = await processStudy(processor, studyId, seq, { growth: this.growthWanted.delete(studyId) });
    if (result.kind === 'retry') this.retryLater(studyId, result.afterMs);
    if (result.kind === 'busy') {
      // Another replica holds it: look again when its lease ends, which is how a dead replica's
      // studies are taken over. The jitter keeps the replicas from all racing for it at once.
      const untilMs = Date.parse(result.leaseUntil);
      if (Number.isFinite(untilMs)) this.retryLater(studyId, Math.max(0, untilMs - Date.now()) + 100 + Math.floor(Math.random() * 400));
    }
    if (result.kind === 'nothing' || result.kind === 'busy' || result.kind === 'gone') {
      const message = result.kind === 'busy' ? `held by ${result.owner}` : result.kind === 'gone' ? 'study no longer exists' : result.reason;
      this.deps.events.emit({ kind: 'skipped', studyId, at: new Date().toISOString(), message });
    }
  }

  /** Queues a study; `growth` asks its next check to look for images added since it was done (always so without a change: a sweep, a wake-up, a retry). */
  private enqueue(studyId: string, seq?: number, growth = seq === undefined): void {
    if (growth) this.growthWanted.add(studyId);
    this.queue.add(studyId, seq);
    this.deps.events.emit({ kind: 'queued', studyId, at: new Date().toISOString(), ...(seq !== undefined ? { seq } : {}) });
    this.pump();
  }

  private retryLater(studyId: string, afterMs: number): void {
    clearTimeout(this.retryTimers.get(studyId));
    const timer = setTimeout(() => {
      this.retryTimers.delete(studyId);
      if (!this.stopping) this.enqueue(studyId);
    }, afterMs);
    timer.unref();
    this.retryTimers.set(studyId, timer);
  }

  /** Saves the cursor just before the earliest change whose study is not checked yet, or at the last change read. */
  private advanceCursor(): void {
    if (this.readSeq < 0) return;
    let low = this.queue.lowWater();
    for (const job of this.series.values()) if (low === undefined || job.seq < low) low = job.seq;
    const target = low === undefined ? this.readSeq : Math.min(this.readSeq, low - 1);
    if (target > this.cursorSeq) this.saveCursor(target);
  }

  /**
   * Moves the cursor; the file is written at most every CURSOR_SAVE_MS (a write, fsync and rename
   * per study cost 3% of the CPU under load, issue 17), the last position always within that time
   * and at stop. A crash loses at most that much progress: the changes are read again, and their
   * studies, done already, are found done (every step is idempotent), so nothing is written twice.
   */
  private saveCursor(seq: number, now = false): void {
    this.cursorSeq = seq;
    this.deps.metrics.cursor.set(seq);
    const sinceMs = Date.now() - this.cursorSavedAt;
    if (now || sinceMs >= CURSOR_SAVE_MS) {
      this.writeCursor();
      return;
    }
    if (this.cursorTimer !== undefined) return;
    this.cursorTimer = setTimeout(() => {
      try {
        this.writeCursor();
      } catch (error) {
        // The next save tries again; the position is only ever behind, never lost ahead.
        this.deps.log.error({ event: 'cursor-error', kind: errorKind(error), err: error }, `could not save the cursor: ${messageOf(error)}`);
      }
    }, CURSOR_SAVE_MS - sinceMs);
    this.cursorTimer.unref();
  }

  /** Writes the cursor's position to its file now. */
  private writeCursor(): void {
    clearTimeout(this.cursorTimer);
    this.cursorTimer = undefined;
    this.cursorSavedAt = Date.now();
    this.deps.cursor.save(this.cursorSeq, new Date());
  }
}

/** A stable series waiting for, or in, a worker. */
interface SeriesJob {
  /** The earliest change that announced it and is not handled yet. */
  seq: number;
  /** Handed to the pool (waiting for a worker or in one). */
  scheduled: boolean;
  /** In a worker now. */
  running: boolean;
  /** Announced again while in a worker: run once more. */
  again: boolean;
  /** Waiting for a retry after Orthanc was away. */
  retrying?: boolean;
  failures: number;
}
