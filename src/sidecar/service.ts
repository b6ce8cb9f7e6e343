/**
 * The sidecar daemon: follows Orthanc's changes feed from a durable cursor, sweeps for pending
 * studies the feed cannot show, and processes each study through processStudy.
 */
import { errorKind, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { OrthancClient } from '../orthanc/client.js';
import type { CursorStore } from './cursor.js';
import type { SidecarEvents } from './events.js';
import type { SidecarMetrics } from './metrics.js';
import { processStudy, type ProcessorDeps } from './processor.js';
import { StudyQueue } from './queue.js';
import type { SegmentationSettings } from '../segmentation/settings.js';
import { onStableSeries } from './segmentation-trigger.js';
import { OutcomeLabels, type LabelSettings } from '../orthanc/labels.js';
import { Sweep } from './sweep.js';
import type { DicomInputSettings } from '../inputs/settings.js';
import { onStableSeriesInputs } from './dicom-input-trigger.js';

/** Change types that may mean a study has new pending measurements. */
const TRIGGERS = new Set(['UpdatedMetadata', 'StableStudy']);
/** Changes read per page. */
const PAGE = 200;

/** Settings and I/O of the daemon. */
export interface SidecarDeps {
  readonly client: OrthancClient;
  readonly processor: ProcessorDeps;
  readonly cursor: CursorStore;
  readonly events: SidecarEvents;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  readonly pollIntervalMs: number;
  readonly sweepIntervalMs: number;
  /** Where a first start begins: Orthanc's current head (default) or the start of the log. */
  readonly startFrom: 'head' | 'beginning';
  /** Whether and how stable SEG series are measured (issue 8). */
  readonly segmentation: SegmentationSettings;
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
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  /** Studies a worker is processing now: a change seen meanwhile (often our own status write) waits for it. */
  private readonly inHand = new Set<string>();
  private readonly recheck = new Set<string>();
  private cursorSeq = -1;
  private stopping = false;
  private running: Promise<void> | undefined;
  private readonly sweeper: Sweep;
  private readonly outcomeLabels: OutcomeLabels | undefined;
  private orthancReachable = false;

  constructor(private readonly deps: SidecarDeps) {
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
    else this.queue.signal();
  }

  /** Stops: finishes the study in hand, saves the cursor, and resolves. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.queue.signal();
    for (const timer of this.retryTimers.values()) clearTimeout(timer);
    await this.running;
    await this.outcomeLabels?.flush();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        if (this.cursorSeq < 0) await this.loadCursor();
        await this.sweeper.turn();
        const busy = await this.readFeed();
        await this.drain();
        this.orthancReachable = true;
        failures = 0;
        if (!busy) await this.queue.wait(this.deps.pollIntervalMs);
      } catch (error) {
        failures++;
        this.orthancReachable = errorKind(error) !== 'orthanc-unreachable' && errorKind(error) !== 'orthanc-auth';
        const delay = Math.min(this.deps.pollIntervalMs * 2 ** Math.min(failures, 6), 30_000);
        this.deps.log.error({ event: 'loop-error', kind: errorKind(error), retryInMs: delay }, messageOf(error));
        await this.queue.wait(delay);
      }
    }
    this.deps.log.info({ event: 'stopped', cursor: this.cursorSeq }, 'sidecar stopped');
  }

  private async loadCursor(): Promise<void> {
    const saved = this.deps.cursor.load();
    if (saved) {
      this.cursorSeq = saved.seq;
    } else {
      this.cursorSeq = this.deps.startFrom === 'beginning' ? 0 : await this.deps.client.lastChangeSeq();
      this.deps.cursor.save(this.cursorSeq, new Date());
    }
    this.deps.metrics.cursor.set(this.cursorSeq);
    this.deps.log.info({ event: 'cursor', cursor: this.cursorSeq, first: saved === undefined }, 'following Orthanc changes');
  }

  /** Reads one page of changes, processes the studies it names, then moves the cursor. Answers true when more pages wait. */
  private async readFeed(): Promise<boolean> {
    const page = await this.deps.client.changes(this.cursorSeq, PAGE);
    if (page.Last < this.cursorSeq) {
      // Orthanc's log went backwards: its database was reset or restored. Start over from its
      // beginning and sweep, since the changes we missed are gone.
      this.deps.log.warn({ event: 'log-reset', cursor: this.cursorSeq, last: page.Last }, "Orthanc's changes log went backwards; starting over");
      this.saveCursor(0);
      this.sweeper.restart();
      return true;
    }
    for (const change of page.Changes) {
      if (change.ResourceType === 'Study' && TRIGGERS.has(change.ChangeType)) this.enqueue(change.ID, change.Seq);
      // A stable SEG series may turn into a pending mark (issue 8); its write comes back as UpdatedMetadata.
      else if (change.ResourceType === 'Series' && change.ChangeType === 'StableSeries') {
        await onStableSeries(this.deps, change.ID);
        // Other systems' SRs and the original tool's blocks (issue 16); their writes also come back as UpdatedMetadata.
        if (this.deps.inputs) await onStableSeriesInputs({ ...this.deps, inputs: this.deps.inputs }, change.ID);
      }
    }
    await this.drain();
    // Studies left in the queue by a stop are not done: keep the cursor before them.
    if (this.stopping && this.queue.length > 0) return false;
    if (page.Last !== this.cursorSeq) this.saveCursor(page.Last);
    this.deps.metrics.lag.set(page.Done ? 0 : Math.max(0, page.Last - this.cursorSeq));
    // Marks that came while the page was being processed are already in the log: read them now
    // rather than after a poll interval.
    return !page.Done || page.Changes.length > 0;
  }

  /** Checks every study that waits, with at most `concurrency` in hand; resolves when the queue is empty. */
  private async drain(): Promise<void> {
    this.deps.metrics.queueLength.set(this.queue.length);
    // After a failure (Orthanc away) no worker starts another study, but the ones in hand finish
    // before the loop backs off, so two drains never overlap.
    let failure: { error: unknown } | undefined;
    const worker = async (): Promise<void> => {
      for (let next = this.queue.take(); next && !this.stopping && !failure; next = this.queue.take()) {
        this.deps.metrics.queueLength.set(this.queue.length);
        if (this.inHand.has(next.studyId)) {
          this.recheck.add(next.studyId);
          continue;
        }
        this.inHand.add(next.studyId);
        try {
          await this.check(next.studyId, next.seq);
        } catch (error) {
          failure ??= { error };
        } finally {
          this.inHand.delete(next.studyId);
          if (this.recheck.delete(next.studyId)) this.queue.add(next.studyId);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.deps.concurrency ?? 1) }, worker));
    if (failure) throw failure.error;
  }

  private async check(studyId: string, seq: number | undefined): Promise<void> {
    const result = await processStudy(this.deps.processor, studyId, seq);
    if (result.kind === 'retry') this.retryLater(studyId, result.afterMs);
    if (result.kind === 'busy') {
      // Another replica holds it: look again when its lease ends, which is how a dead replica's
      // studies are taken over. The jitter keeps the replicas from all racing for it at once.
      const untilMs = Date.parse(result.leaseUntil);
      if (Number.isFinite(untilMs)) this.retryLater(studyId, Math.max(0, untilMs - Date.now()) + 100 + Math.floor(Math.random() * 400));
    }
    if (result.kind === 'nothing' || result.kind === 'busy') {
      this.deps.events.emit({ kind: 'skipped', studyId, at: new Date().toISOString(), message: result.kind === 'busy' ? `held by ${result.owner}` : result.reason });
    }
  }

  private enqueue(studyId: string, seq?: number): void {
    this.queue.add(studyId, seq);
    this.deps.metrics.queueLength.set(this.queue.length);
    this.deps.events.emit({ kind: 'queued', studyId, at: new Date().toISOString(), ...(seq !== undefined ? { seq } : {}) });
  }

  private retryLater(studyId: string, afterMs: number): void {
    clearTimeout(this.retryTimers.get(studyId));
    const timer = setTimeout(() => {
      this.retryTimers.delete(studyId);
      this.enqueue(studyId);
    }, afterMs);
    timer.unref();
    this.retryTimers.set(studyId, timer);
  }

  private saveCursor(seq: number): void {
    this.cursorSeq = seq;
    this.deps.cursor.save(seq, new Date());
    this.deps.metrics.cursor.set(seq);
  }
}
