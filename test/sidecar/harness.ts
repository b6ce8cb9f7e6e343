/** An in-process sidecar against a test Orthanc, with its events recorded. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';
import type { OrthancClient } from '../../src/orthanc/client.js';
import { APPROACHES, type Approach } from '../../src/pipeline/approaches.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { DEFAULT_SEGMENTATION_SETTINGS } from '../../src/segmentation/settings.js';
import { CursorStore } from '../../src/sidecar/cursor.js';
import { SidecarEvents, type StudyEvent } from '../../src/sidecar/events.js';
import { SidecarMetrics } from '../../src/sidecar/metrics.js';
import type { ProcessorDeps } from '../../src/sidecar/processor.js';
import { Sidecar, type SidecarDeps } from '../../src/sidecar/service.js';
import { parseStatus, type StudyStatus } from '../../src/status/status.js';

/** A sidecar under test. */
export interface TestSidecar {
  readonly sidecar: Sidecar;
  readonly events: StudyEvent[];
  readonly processor: ProcessorDeps;
  readonly stateDir: string;
  stop(): Promise<void>;
}

/** Processor settings for tests: fast retries, all approaches unless told otherwise. */
export function testProcessor(client: OrthancClient, events: SidecarEvents, overrides: Partial<ProcessorDeps> = {}): ProcessorDeps {
  return {
    client,
    settings: { srSeriesNumber: 9999, timeZone: 'UTC' },
    approaches: [...APPROACHES] as Approach[],
    now: () => new Date(),
    events,
    log: createLogger('silent'),
    owner: 'test-replica',
    leaseMs: 60_000,
    maxAttempts: 3,
    retryBaseMs: 50,
    ...overrides,
  };
}

/** Starts a sidecar on a state folder (a new one unless given). */
export function startSidecar(client: OrthancClient, options: { stateDir?: string; processor?: Partial<ProcessorDeps>; startFrom?: 'head' | 'beginning'; sidecar?: Partial<Pick<SidecarDeps, 'concurrency' | 'budget' | 'pollIntervalMs'>> } = {}): TestSidecar {
  const events = new SidecarEvents();
  const recorded: StudyEvent[] = [];
  events.subscribe((e) => recorded.push(e));
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'kv-state-'));
  const processor = testProcessor(client, events, options.processor);
  const sidecar = new Sidecar({
    client,
    processor,
    cursor: new CursorStore(stateDir),
    events,
    metrics: new SidecarMetrics({ defaultMetrics: false }),
    log: processor.log,
    pollIntervalMs: 100,
    sweepIntervalMs: 60_000,
    startFrom: options.startFrom ?? 'head',
    segmentation: DEFAULT_SEGMENTATION_SETTINGS,
    ...options.sidecar,
  });
  sidecar.start();
  return { sidecar, events: recorded, processor, stateDir, stop: () => sidecar.stop() };
}

/** Waits until the study's status reaches one of the states; fails after the timeout with what it saw. */
export async function waitForState(client: OrthancClient, studyId: string, states: readonly string[], timeoutMs = 30_000): Promise<StudyStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: StudyStatus | undefined;
  while (Date.now() < deadline) {
    const revision = await client.studyMetadata(studyId, METADATA.status);
    last = revision ? parseStatus(revision.value) : undefined;
    if (last && states.includes(last.state)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`study ${studyId} did not reach ${states.join('/')} within ${timeoutMs} ms; last status: ${JSON.stringify(last)}`);
}

/** Counts a study's series by kind: SR series' instances, and derived (private-tag) series. */
export async function seriesCounts(client: OrthancClient, studyId: string): Promise<{ srInstances: number; series: number; instances: number }> {
  const series = await client.studySeries(studyId);
  return {
    srInstances: series.filter((s) => s.MainDicomTags['Modality'] === 'SR').reduce((n, s) => n + s.Instances.length, 0),
    series: series.length,
    instances: series.reduce((n, s) => n + s.Instances.length, 0),
  };
}
