/**
 * Mark-to-done latency of the sidecar: the time from setting KidneyVolumesPending over Orthanc's
 * REST API to the sidecar's "done" event (sent right after it wrote the done status), for small
 * studies marked one after another; with Orthanc's Lua wake-up and without it (polling every
 * KV_POLL_INTERVAL_MS, default 1000), for the approaches sr,fhir and all.
 *
 * Run from anywhere after building (tsx is not installed, so the benchmark is compiled too):
 *   npm run build && npx tsc -p bench/tsconfig.json && node dist/bench/bench/latency.js [--studies 10] [--images 2] [--wake lua|poll] [--approaches sr,fhir|all] [--samples]
 *
 * Each scenario gets its own throwaway Orthanc and the real sidecar process (dist/bundle/main.js).
 * Marks wait a random 0.2-1.2 s after the previous done, so they do not fall in step with the poll.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { METADATA } from '../src/orthanc/metadata.js';
import type { StudyEvent } from '../src/sidecar/events.js';
import { ctStudy, uploadStudy } from '../test/fixtures/studies.js';
import { ORTHANC_CONFIG, freePort, startOrthanc } from '../test/helpers/orthanc.js';
import { runSidecar } from '../test/helpers/sidecar-process.js';

/** The repository root: this file runs as dist/bench/bench/latency.js. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = join(ROOT, 'orthanc', 'kidney-volumes.lua');
const CLI = join(ROOT, 'dist', 'bundle', 'main.js');

interface Scenario {
  readonly lua: boolean;
  readonly approaches: string;
}
const SCENARIOS: readonly Scenario[] = [
  { lua: true, approaches: 'sr,fhir' },
  { lua: false, approaches: 'sr,fhir' },
  { lua: true, approaches: 'all' },
  { lua: false, approaches: 'all' },
];

const { values } = parseArgs({
  options: { studies: { type: 'string', default: '10' }, images: { type: 'string', default: '2' }, wake: { type: 'string' }, approaches: { type: 'string' }, samples: { type: 'boolean', default: false } },
});
const STUDIES = Number(values.studies);
const IMAGES = Number(values.images);

// startOrthanc reads orthanc/orthanc.json relative to its own compiled file (dist/bench/test/helpers).
mkdirSync(dirname(ORTHANC_CONFIG), { recursive: true });
if (ORTHANC_CONFIG !== join(ROOT, 'orthanc', 'orthanc.json')) copyFileSync(join(ROOT, 'orthanc', 'orthanc.json'), ORTHANC_CONFIG);

console.log(`mark-to-done latency, ${STUDIES} studies of ${IMAGES} CT images per scenario (after one warm-up study), ms`);
console.log(['wake-up', 'approaches', 'p50', 'p95', 'min', 'max'].map((h) => h.padEnd(12)).join(''));
// --wake lua|poll and --approaches sr,fhir|all run only the scenarios that match; --samples prints every sample.
const chosen = SCENARIOS.filter((s) => (values.wake === undefined || (values.wake === 'lua') === s.lua) && (values.approaches === undefined || values.approaches === s.approaches));
for (const scenario of chosen) {
  const samples = await measure(scenario);
  if (values.samples) console.log(`  samples: ${samples.map((v) => Math.round(v)).join(' ')}`);
  const row = [scenario.lua ? 'lua' : 'poll 1000ms', scenario.approaches, percentile(samples, 50), percentile(samples, 95), Math.min(...samples), Math.max(...samples)];
  console.log(row.map((v) => String(typeof v === 'number' ? Math.round(v) : v).padEnd(12)).join(''));
}

async function measure(scenario: Scenario): Promise<number[]> {
  const port = await freePort();
  const orthanc = await startOrthanc(scenario.lua ? { LuaScripts: [SCRIPT] } : {}, scenario.lua ? { env: { KV_SIDECAR_URL: `http://127.0.0.1:${port}`, KV_HOOK_TOKEN: 'bench-hook-token' } } : {});
  const sidecar = await runSidecar({
    port,
    cli: CLI,
    env: { ...orthanc.env, KV_APPROACHES: scenario.approaches, KV_LOG_LEVEL: 'warn', KV_SWEEP_INTERVAL_MS: '3600000', KV_HOOK_TOKEN: 'bench-hook-token' },
  });
  const socket = new WebSocket(`ws://127.0.0.1:${port}/events`, { headers: sidecar.auth });
  const waiting = new Map<string, (event: StudyEvent) => void>();
  socket.on('message', (data: Buffer) => {
    const event = JSON.parse(data.toString()) as StudyEvent;
    if (event.kind === 'done' || event.kind === 'failed') waiting.get(event.studyId)?.(event);
  });
  try {
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const studies = [];
    for (let i = 0; i <= STUDIES; i++) studies.push((await uploadStudy(orthanc.client, ctStudy(IMAGES))).orthancId);
    const samples: number[] = [];
    for (const [index, studyId] of studies.entries()) {
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 1000));
      const finished = new Promise<StudyEvent>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`study ${studyId} not done within 30 s:\n${sidecar.stdout()}`)), 30_000);
        waiting.set(studyId, (event) => {
          clearTimeout(timer);
          resolve(event);
        });
      });
      const started = performance.now();
      await orthanc.client.setStudyMetadata(studyId, METADATA.pending, JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' }));
      const event = await finished;
      if (event.kind !== 'done') throw new Error(`study ${studyId} failed: ${event.message ?? ''}`);
      if (index > 0) samples.push(performance.now() - started);
    }
    return samples;
  } finally {
    socket.terminate();
    await sidecar.stop();
    await orthanc.stop();
  }
}

/** Nearest-rank percentile. */
function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}
