/**
 * Benchmark of the private-tags pass against Orthanc's own ingest speed (issue 4).
 *
 * Run from the repository root (tsx is not installed, so it is compiled first):
 *   npx tsc -p bench/tsconfig.json && node --expose-gc dist/bench/bench/private-tags.js --images 300 [--concurrency 4]
 * (--expose-gc: the ingest's garbage is collected before the pass, so that the pass's CPU and GC
 * figures are its own.)
 *
 * It starts a throwaway Orthanc as the tests do, writes N 512x512 CT images to a temp folder,
 * then prints: the time Orthanc takes to ingest them over REST (the floor, same concurrency as
 * our pass), the time of our private-tag pass over them, the ratio, the CPU time this process
 * spent in the pass (user + system) and the part of it in garbage collection, and its peak RSS.
 * Then the pass's downloads alone, every source image once, into memory of their own and into a
 * BufferPool (as the pass reads them), alternated six times each in this process: the CPU time of
 * each, which the load of other processes disturbs far less than it does the whole pass.
 */
import { UploadGuard } from '../src/pipeline/study-guard.js';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { buildSet } from '../src/measurements/parse.js';
import { DEFAULT_PRIVATE_CONCURRENCY, createPrivateStep } from '../src/pipeline/private-step.js';
import { mapLimit } from '../src/pipeline/concurrency.js';
import { BufferPool } from '../src/pipeline/buffer-pool.js';
import { readStudyFacts } from '../src/pipeline/read-facts.js';
import { ORTHANC_CONFIG, startOrthanc } from '../test/helpers/orthanc.js';
import { writeCtSeries } from './ct-series.js';

const { values } = parseArgs({ options: { images: { type: 'string', default: '300' }, concurrency: { type: 'string', default: String(DEFAULT_PRIVATE_CONCURRENCY) } } });
const images = Number(values.images);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(images) || images < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
  throw new Error(`--images and --concurrency must be positive integers, got ${values.images} and ${values.concurrency}`);
}

function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

async function main(): Promise<void> {
  // The test helper reads orthanc/orthanc.json relative to its own compiled location (dist/bench/test/helpers).
  mkdirSync(dirname(ORTHANC_CONFIG), { recursive: true });
  if (ORTHANC_CONFIG !== join(process.cwd(), 'orthanc', 'orthanc.json')) copyFileSync(join(process.cwd(), 'orthanc', 'orthanc.json'), ORTHANC_CONFIG);
  const folder = mkdtempSync(join(tmpdir(), 'kv-bench-'));
  const orthanc = await startOrthanc();
  try {
    const paths = writeCtSeries(folder, images);
    const client = orthanc.client;
    const ingestStart = performance.now();
    const uploads = await mapLimit(paths, concurrency, async (path) => client.upload(readFileSync(path)));
    const floorMs = performance.now() - ingestStart;
    const rssAfterIngest = peakRssMb();
    const studyId = uploads[0]?.ParentStudy ?? '';

    const factsStart = performance.now();
    const facts = await readStudyFacts(client, studyId);
    const factsMs = performance.now() - factsStart;
    const measurements = buildSet([
      { name: 'Right Kidney', value: '125', unit: 'ml' },
      { name: 'Left Kidney', value: '132', unit: 'ml' },
    ]);
    // The ingest's garbage (every file read) is not the pass's: collected first when --expose-gc allows it.
    (globalThis as { gc?: () => void }).gc?.();
    // Garbage collection during the pass, from V8's own GC entries (the pass runs in this process; Orthanc does not).
    let gcMs = 0;
    const gc = new PerformanceObserver((list) => list.getEntries().forEach((entry) => (gcMs += entry.duration)));
    gc.observe({ entryTypes: ['gc'] });
    const cpuStart = process.cpuUsage();
    const passStart = performance.now();
    const outcome = await createPrivateStep({ concurrency }).write({ client, facts, measurements, now: new Date(), settings: { srSeriesNumber: 9999 }, earlier: [], uploads: new UploadGuard(client, facts) });
    const passMs = performance.now() - passStart;
    const cpu = process.cpuUsage(cpuStart);
    gc.disconnect();
    const mb = (images * readFileSync(paths[0] as string).length) / 1e6;
    console.log(`images:                 ${images} x 512x512 CT (${mb.toFixed(0)} MB), concurrency ${concurrency}`);
    console.log(`Orthanc ingest (floor): ${(floorMs / 1000).toFixed(2)} s`);
    console.log(`private-tag pass:       ${(passMs / 1000).toFixed(2)} s (download, copy, upload, count, read back)`);
    console.log(`ratio pass / floor:     ${(passMs / floorMs).toFixed(2)}`);
    console.log(`CPU of the pass:        ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms (user ${(cpu.user / 1000).toFixed(0)}, system ${(cpu.system / 1000).toFixed(0)}), GC ${gcMs.toFixed(0)} ms`);
    const downloads = await downloadCpu(client, uploads.map((u) => u.ID));
    console.log(`downloads alone (CPU):  fresh memory ${downloads.fresh} ms, pooled ${downloads.pooled} ms (medians of 6, alternated)`);
    console.log(`reading study facts:    ${(factsMs / 1000).toFixed(2)} s (attach does this once for all steps; not in the pass)`);
    console.log(`peak RSS:               ${peakRssMb()} MB (after ingest: ${rssAfterIngest} MB)`);
    console.log(`outcome:                ${outcome.summary}`);
  } finally {
    await orthanc.stop();
    rmSync(folder, { recursive: true, force: true });
  }
}

/** Median CPU time (ms) of downloading every image once, into memory of its own and into pooled memory. */
async function downloadCpu(client: Awaited<ReturnType<typeof startOrthanc>>['client'], ids: readonly string[]): Promise<{ fresh: string; pooled: string }> {
  const pool = new BufferPool();
  const samples: Record<'fresh' | 'pooled', number[]> = { fresh: [], pooled: [] };
  for (let round = 0; round < 12; round++) {
    const mode = round % 2 === 0 ? 'fresh' : 'pooled';
    (globalThis as { gc?: () => void }).gc?.();
    const start = process.cpuUsage();
    await mapLimit(ids, concurrency, async (id) => {
      const body = await client.instanceFile(id, mode === 'pooled' ? pool.take : undefined);
      if (mode === 'pooled') pool.give(body);
    });
    const used = process.cpuUsage(start);
    samples[mode].push((used.user + used.system) / 1000);
  }
  const median = (xs: number[]): string => ([...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0).toFixed(0);
  return { fresh: median(samples.fresh), pooled: median(samples.pooled) };
}

await main();
