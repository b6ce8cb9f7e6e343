/** Prometheus metrics of one sidecar replica (served at GET /metrics). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MetricsView } from '../http/sidecar-view.js';
import type { SidecarEvents } from './events.js';

/**
 * How a claim attempt ended: `claimed` (a free study), `took-over` (another replica's claim had
 * expired), `lost` (another writer won the compare-and-set), and `lease-lost` for a study in hand
 * whose lease could not be renewed or whose status changed before the outcome was written.
 */
export type ClaimOutcome = 'claimed' | 'took-over' | 'lost' | 'lease-lost';

/** The replica's metrics, in their own registry so tests can make several. */
export class SidecarMetrics implements MetricsView {
  readonly registry = new Registry();
  readonly done = new Counter({ name: 'kidney_volumes_studies_done_total', help: 'Studies processed to done', registers: [this.registry] });
  readonly failed = new Counter({ name: 'kidney_volumes_studies_failed_total', help: 'Studies that failed', registers: [this.registry] });
  readonly retries = new Counter({ name: 'kidney_volumes_retries_total', help: 'Attempts that will be retried after a transient fault', registers: [this.registry] });
  readonly skipped = new Counter({ name: 'kidney_volumes_studies_skipped_total', help: 'Study checks that found nothing to do', registers: [this.registry] });
  readonly claims = new Counter({ name: 'kidney_volumes_claims_total', help: 'Study claims by outcome: claimed, took-over, lost (race lost), lease-lost (lost while processing)', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly queueLength = new Gauge({ name: 'kidney_volumes_queue_length', help: 'Studies waiting to be checked', registers: [this.registry] });
  readonly lag = new Gauge({ name: 'kidney_volumes_changes_lag', help: "Changes between the cursor and Orthanc's head", registers: [this.registry] });
  readonly cursor = new Gauge({ name: 'kidney_volumes_changes_cursor', help: 'Last change sequence number handled', registers: [this.registry] });
  readonly outputBytes = new Counter({
    name: 'kidney_volumes_output_bytes_total',
    help: "Bytes the outputs added to Orthanc's storage, by approach (the private-tag copies cost the most)",
    labelNames: ['approach'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'kidney_volumes_processing_seconds',
    help: 'Time from claiming a study to done or failed',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'kidney_volumes_' });
  }

  /** Counts events as they happen. */
  follow(events: SidecarEvents): () => void {
    return events.subscribe((e) => {
      if (e.kind === 'done') this.done.inc();
      if (e.kind === 'failed') this.failed.inc();
      if (e.kind === 'retrying') this.retries.inc();
      if (e.kind === 'skipped') this.skipped.inc();
      if ((e.kind === 'done' || e.kind === 'failed') && e.durationMs !== undefined) this.duration.observe(e.durationMs / 1000);
    });
  }
}
