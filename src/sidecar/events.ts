/** Live events of the sidecar, for logs, metrics and the WebSocket stream. */
import { EventEmitter } from 'node:events';

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

/** States after which a study rests until something new comes (a new mark, a retry). */
const RESTING: ReadonlySet<StudyEventKind> = new Set(['done', 'failed', 'skipped']);

/** Kinds that say the study is still where it was when they repeat. */
const REPEATABLE_NOISE: ReadonlySet<StudyEventKind> = new Set(['queued', 'skipped', 'processing']);

/**
 * Turns the sidecar's raw events into one event per state change of a study, as a watcher (the
 * WebSocket, the dashboard) wants them. The raw stream repeats itself: one mark reaches the sidecar
 * through the API, the Lua hook and the feed (three `queued`), and the sidecar's own status writes
 * come back through the feed as `queued` then `skipped` ("already done"). So a repeated kind is
 * dropped, and a `queued` for a resting study (done, failed, skipped) is held back until the next
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
      // A study in hand is looked at again when its worker is done: nothing changed for a watcher.
      if (held !== undefined || last === 'queued' || last === 'processing') return [];
      if (last !== undefined && RESTING.has(last)) {
        this.held.set(studyId, event);
        return [];
      }
      return this.pass([event]);
    }
    if (held !== undefined) {
      this.held.delete(studyId);
      // Looked at and found nothing to do: the study never left its resting state.
      if (kind === 'skipped') return [];
      return this.pass([held, event]);
    }
    if (last === kind && REPEATABLE_NOISE.has(kind)) return [];
    // "Nothing to do" only means something right after a `queued` a watcher saw.
    if (kind === 'skipped' && last !== undefined && last !== 'queued') return [];
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

/** A typed emitter of study events: every raw event (logs, metrics), and one per state change (watchers). */
export class SidecarEvents {
  private readonly emitter = new EventEmitter();
  private readonly changes = new StateChanges();

  constructor() {
    // Every WebSocket client is one listener; a busy API must not trip Node's leak warning.
    this.emitter.setMaxListeners(0);
  }

  /** Announces an event to every listener. */
  emit(event: StudyEvent): void {
    this.emitter.emit('event', event);
    for (const change of this.changes.accept(event)) this.emitter.emit('change', change);
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
