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

/** A typed emitter of study events. */
export class SidecarEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Every WebSocket client is one listener; a busy API must not trip Node's leak warning.
    this.emitter.setMaxListeners(0);
  }

  /** Announces an event to every listener. */
  emit(event: StudyEvent): void {
    this.emitter.emit('event', event);
  }

  /** Listens to every event; answers a function that stops listening. */
  subscribe(listener: (event: StudyEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}
