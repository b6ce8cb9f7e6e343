/**
 * What the HTTP side (API, dashboard, WebSocket) needs from the running sidecar, declared here so
 * that http imports nothing of src/sidecar: the sidecar builds the app and hands it these, and
 * its SidecarMetrics and SidecarEvents fit them as they are.
 */
import type { Gauge, Registry } from 'prom-client';

/** The metrics the API serves (GET /metrics) and the health panel reads. */
export interface MetricsView {
  readonly registry: Registry;
  readonly queueLength: Gauge;
  readonly cursor: Gauge;
  readonly lag: Gauge;
}

/** One live event as the WebSocket passes it on: a study's state change or a progress report, sent as JSON. */
export interface LiveEvent {
  readonly kind: string;
  readonly studyId: string;
  readonly at: string;
}

/** The thinned event streams a watcher subscribes to; each subscribe answers a function that stops listening. */
export interface LiveEvents {
  subscribeChanges(listener: (event: LiveEvent) => void): () => void;
  subscribeProgress(listener: (event: LiveEvent) => void): () => void;
}
