/** Live events of the sidecar, for logs, metrics and the WebSocket stream. */
import { EventEmitter } from 'node:events';
import type { LiveEvents } from '../http/sidecar-view.js';

/** Kinds of study events, in the order a study goes through them. */
export type StudyEventKind = 'queued' | 'processing' | 'done' | 'failed' | 'retrying' | 'skipped' | 'deleted';

/** One event about one study. */
export interface StudyEvent {
  readonly kind: StudyEventKind;
  readonly studyId: string;
  readonly at: string;
  /** The measurements' digest, when known. */
  readonly digest?: string;
  /** Change sequence number that caused it, when it came from the feed. */
  readonly seq?: number;
  readonly message?: string;
  readonly durationMs?: number;
}

/**
 * How far a processing study's current step is (private copies written of all to write): its
 * own kind, apart from the state events, so that state changes stay one event each.
 */
export interface ProgressEvent {
  readonly kind: 'progress';
  readonly studyId: string;
  readonly at: string;
  /** The step (approach) at work, e.g. `private`. */
  readonly approach: string;
  readonly done: number;
  readonly total: number;
}

/** States after which a study rests until something new comes (a new mark, a retry). */
const RESTING: ReadonlySet<StudyEventKind> = new Set(['done', 'failed', 'skipped']);

/** Kinds that say the study is still where it was when they repeat. */
const REPEATABLE_NOISE: ReadonlySet<StudyEventKind> = new Set(['queued', 'skipped', 'processing']);

/**
 * Turns the sidecar's raw events into one event per state change of a study, as a watcher (the
 * WebSocket, the dashboard) wants them. The raw stream repeats itself: one mark reaches the sidecar
 * through the API, the Lua hook and the feed (three `queued`), and the sidecar's own status writes
 * come back through the feed as `queued` then `skipped` ("already done"). So a repeated kind is
 * dropped, and a `queued` for a processing or resting study (done, failed, skipped) is held back until the next
 * event shows whether anything happens: `processing` or a failure lets both through, `skipped` drops both.
 */
export class StateChanges {
  private readonly last = new Map<string, StudyEventKind>();
  private readonly held = new Map<string, StudyEvent>();

  /** limit bounds the studies remembered (the oldest are forgotten first), so memory stays flat on a large archive. */
  constructor(private readonly limit = 10_000) {}

  /** The events to pass on for one raw event: none, this one, or a held `queued` and this one. */
  accept(event: StudyEvent): StudyEvent[] {
    const { studyId, kind } = event;
    const last = this.last.get(studyId);
    const held = this.held.get(studyId);
    if (kind === 'queued') {
      if (held !== undefined || last === 'queued') return [];
      // While a study is processed, its own uploads (private copies, the SR) come back through the
      // feed as `queued` too: held like one for a resting study.
      if (last !== undefined && (RESTING.has(last) || last === 'processing')) {
        this.held.set(studyId, event);
        return [];
      }
      return this.pass([event]);
    }
    if (held !== undefined && last === 'processing' && kind !== 'processing' && kind !== 'skipped') {
      // The run ended (done, failed, retrying...): pass that; the held `queued` waits for what
      // comes after it, as for any resting study.
      return this.pass([event]);
    }
    if (held !== undefined) {
      this.held.delete(studyId);
      // Looked at and found nothing to do: the study never left its resting state.
      if (kind === 'skipped') return [];
      return this.pass([held, event]);
    }
    if (last === kind && REPEATABLE_NOISE.has(kind)) return [];
    // "Looked at, nothing to do" for a study already at rest (its `queued` was dropped or consumed
    // while it was processed): it stays where it was.
    if (kind === 'skipped' && last !== undefined && RESTING.has(last)) return [];
    return this.pass([event]);
  }

  private pass(events: StudyEvent[]): StudyEvent[] {
    const final = events[events.length - 1];
    if (final === undefined) return events;
    this.last.delete(final.studyId);
    this.last.set(final.studyId, final.kind);
    if (this.last.size > this.limit) {
      const oldest = this.last.keys().next().value;
      if (oldest !== undefined) {
        this.last.delete(oldest);
        this.held.delete(oldest);
      }
    }
    return events;
  }
}

/**
 * Thins a study's progress reports (one per image copied) to what a watcher can use: the first,
 * then at most one per study per interval, and always the last (done = total, or the latest
 * report held back, sent when the interval ends), so a page never freezes on a stale count.
 */
export class ProgressThrottle {
  private readonly lastSent = new Map<string, number>();
  private readonly pending = new Map<string, { event: ProgressEvent; timer: ReturnType<typeof setTimeout> }>();

  /** send receives the reports let through; now is the clock (ms), replaceable in tests. */
  constructor(
    private readonly send: (event: ProgressEvent) => void,
    private readonly intervalMs = 500,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one report: sends it now, holds it for the end of the interval, or replaces a held one. */
  accept(event: ProgressEvent): void {
    const { studyId } = event;
    const held = this.pending.get(studyId);
    const sentAt = this.lastSent.get(studyId);
    const now = this.now();
    const last = event.done >= event.total;
    if (last || sentAt === undefined || now - sentAt >= this.intervalMs) {
      if (held !== undefined) clearTimeout(held.timer);
      this.pending.delete(studyId);
      this.pass(event, now);
      return;
    }
    if (held !== undefined) {
      this.pending.set(studyId, { event, timer: held.timer });
      return;
    }
    const timer = setTimeout(() => {
      const latest = this.pending.get(studyId);
      this.pending.delete(studyId);
      if (latest !== undefined) this.pass(latest.event, this.now());
    }, this.intervalMs - (now - sentAt));
    // A held report must not keep a stopping process alive.
    timer.unref?.();
    this.pending.set(studyId, { event, timer });
  }

  /** Forgets a study whose run ended (done, failed...): a held report would only say something stale. */
  end(studyId: string): void {
    const held = this.pending.get(studyId);
    if (held !== undefined) clearTimeout(held.timer);
    this.pending.delete(studyId);
    this.lastSent.delete(studyId);
  }

  private pass(event: ProgressEvent, now: number): void {
    this.lastSent.set(event.studyId, now);
    this.send(event);
  }
}

/** A typed emitter of study events: every raw event (logs, metrics), and one per state change (watchers). */
export class SidecarEvents implements LiveEvents {
  private readonly emitter = new EventEmitter();
  private readonly changes = new StateChanges();
  private readonly progressReports = new ProgressThrottle((event) => this.emitter.emit('progress', event));

  constructor() {
    // Every WebSocket client is one listener; a busy API must not trip Node's leak warning.
    this.emitter.setMaxListeners(0);
  }

  /** Announces an event to every listener. */
  emit(event: StudyEvent): void {
    if (event.kind !== 'processing') this.progressReports.end(event.studyId);
    this.emitter.emit('event', event);
    for (const change of this.changes.accept(event)) this.emitter.emit('change', change);
  }

  /** Announces how far a processing study is, thinned by ProgressThrottle (one per study per 500 ms, and the last). */
  progress(event: ProgressEvent): void {
    this.progressReports.accept(event);
  }

  /** Listens to the thinned progress reports; answers a function that stops listening. */
  subscribeProgress(listener: (event: ProgressEvent) => void): () => void {
    this.emitter.on('progress', listener);
    return () => this.emitter.off('progress', listener);
  }

  /** Listens to one event per state change of a study (see StateChanges); answers a function that stops listening. */
  subscribeChanges(listener: (event: StudyEvent) => void): () => void {
    this.emitter.on('change', listener);
    return () => this.emitter.off('change', listener);
  }

  /** Listens to every event; answers a function that stops listening. */
  subscribe(listener: (event: StudyEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}
