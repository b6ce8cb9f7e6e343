/** The health panel's figures: Orthanc, the feeds, the queue, replicas, and the last hour per minute. */
import { messageOf } from '../../errors.js';
import type { IndexFeedState } from '../../index/feed.js';
import type { ReplicaSeen, StudyIndex } from '../../index/store.js';
import type { OrthancClient } from '../../orthanc/client.js';
import type { MetricsView } from '../sidecar-view.js';

/** Minutes the charts cover. */
export const CHART_MINUTES = 60;

/** What the health panel shows. */
export interface HealthReport {
  readonly at: string;
  readonly orthanc: { readonly reachable: boolean; readonly version?: string; readonly error?: string };
  readonly sidecar: { readonly ready: boolean; readonly replica: string; readonly queueLength: number; readonly cursor: number; readonly lag: number };
  readonly index: IndexFeedState;
  readonly replicas: readonly ReplicaSeen[];
  /** Per minute of the last hour, oldest first: start of the minute (Unix seconds), studies done, mark-to-done latency. */
  readonly chart: { readonly minutes: readonly number[]; readonly done: readonly number[]; readonly latencyMedianS: readonly (number | null)[]; readonly latencyMaxS: readonly (number | null)[] };
}

/** What the figures are read from. */
export interface HealthSources {
  readonly client: OrthancClient;
  readonly index: StudyIndex;
  readonly feed: { readonly state: IndexFeedState };
  readonly metrics: MetricsView;
  readonly sidecar: { readonly ready: boolean };
  readonly replicaId: string;
  readonly now: () => Date;
}

/** Reads every figure once. */
export async function healthReport(sources: HealthSources): Promise<HealthReport> {
  const now = sources.now();
  const orthanc = await sources.client.system().then(
    (s) => ({ reachable: true, version: s.Version }),
    (error: unknown) => ({ reachable: false, error: messageOf(error) }),
  );
  return {
    at: now.toISOString(),
    orthanc,
    sidecar: {
      ready: sources.sidecar.ready,
      replica: sources.replicaId,
      queueLength: await gauge(sources.metrics.queueLength),
      cursor: await gauge(sources.metrics.cursor),
      lag: await gauge(sources.metrics.lag),
    },
    index: sources.feed.state,
    replicas: sources.index.replicas(),
    chart: lastHour(sources.index, now),
  };
}

/** Done studies and their mark-to-done latency, per minute of the last hour. */
function lastHour(index: StudyIndex, now: Date): HealthReport['chart'] {
  const end = Math.floor(now.getTime() / 60_000) + 1;
  const start = end - CHART_MINUTES;
  const buckets: number[][] = Array.from({ length: CHART_MINUTES }, () => []);
  for (const { markedAt, finishedAt } of index.finishedSince(new Date(start * 60_000).toISOString())) {
    const finished = Date.parse(finishedAt);
    const slot = Math.floor(finished / 60_000) - start;
    if (slot < 0 || slot >= CHART_MINUTES) continue;
    const marked = Date.parse(markedAt);
    buckets[slot]?.push(Number.isFinite(marked) ? Math.max(0, (finished - marked) / 1000) : NaN);
  }
  const sorted = buckets.map((b) => b.filter(Number.isFinite).sort((x, y) => x - y));
  return {
    minutes: buckets.map((_, i) => (start + i) * 60),
    done: buckets.map((b) => b.length),
    latencyMedianS: sorted.map((b) => (b.length === 0 ? null : (b[Math.floor((b.length - 1) / 2)] ?? null))),
    latencyMaxS: sorted.map((b) => (b.length === 0 ? null : (b[b.length - 1] ?? null))),
  };
}

async function gauge(metric: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await metric.get()).values[0]?.value ?? 0;
}
