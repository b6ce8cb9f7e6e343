/**
 * HTTP round trips the sidecar makes per study, by endpoint: a counting proxy between the sidecar
 * and a throwaway Orthanc, N one-image studies marked one at a time (each waited for), SR + FHIR by
 * default, counted until their series are stable (StableAge, 10 s, after the last); the changes feed
 * polls count too. Paths are shown with Orthanc IDs replaced by {id}, so one line is one kind of call.
 *
 *   npm run build && npx tsc -p bench/tsconfig.json && node dist/bench/bench/round-trips.js [--studies 20] [--approaches sr,fhir]
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { METADATA } from '../src/orthanc/metadata.js';
import type { StudyEvent } from '../src/sidecar/events.js';
import { buildStudy, ctStudy } from '../test/fixtures/studies.js';
import { startGateProxy } from '../test/helpers/gate-proxy.js';
import { ORTHANC_CONFIG, startOrthanc } from '../test/helpers/orthanc.js';
import { runSidecar } from '../test/helpers/sidecar-process.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'bundle', 'main.js');
const MARK = JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });
const { values } = parseArgs({ options: { studies: { type: 'string', default: '20' }, approaches: { type: 'string', default: 'sr,fhir' }, trace: { type: 'boolean', default: false } } });

mkdirSync(dirname(ORTHANC_CONFIG), { recursive: true });
if (ORTHANC_CONFIG !== join(ROOT, 'orthanc', 'orthanc.json')) copyFileSync(join(ROOT, 'orthanc', 'orthanc.json'), ORTHANC_CONFIG);

/** Orthanc IDs are 5 groups of 8 hex digits joined by dashes. */
const ORTHANC_ID = /[0-9a-f]{8}(-[0-9a-f]{8}){4}/g;

const orthanc = await startOrthanc();
const proxy = await startGateProxy(orthanc.url);
const counts = new Map<string, number>();
let counting = false;
/** Every request of the last study, in order, with the ms since its mark (--trace). */
let trace: string[] = [];
let markedAt = 0;
// A hold that never holds: its matcher sees every request, which is all this needs.
proxy.hold((r) => {
  if (counting) {
    const key = `${r.method} ${r.path.replace(ORTHANC_ID, '{id}').replace(/since=\d+/, 'since=N')}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    trace.push(`${String(Math.round(performance.now() - markedAt)).padStart(6)} ms  ${key}`);
  }
  return false;
});
const count = Number(values.studies);
const sidecar = await runSidecar({
  cli: CLI,
  env: { ...orthanc.env, ORTHANC_URL: proxy.url, KV_APPROACHES: values.approaches, KV_LOG_LEVEL: 'warn', KV_SWEEP_INTERVAL_MS: '3600000' },
});
try {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push((await orthanc.client.upload(buildStudy(ctStudy(1)).files[0]!)).ParentStudy);
  const socket = new WebSocket(`ws://127.0.0.1:${sidecar.port}/events`, { headers: sidecar.auth });
  const waiting = new Map<string, () => void>();
  socket.on('message', (data: Buffer) => {
    const event = JSON.parse(data.toString()) as StudyEvent;
    if (event.kind === 'failed') console.error(`study ${event.studyId} failed: ${event.message ?? ''}`);
    if (event.kind === 'done' || event.kind === 'failed') waiting.get(event.studyId)?.();
  });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  // Let the sidecar see the uploads' changes first, so only the marks' work is counted.
  await new Promise((r) => setTimeout(r, 1500));
  counting = true;
  for (const id of ids) {
    const done = new Promise<void>((resolve) => waiting.set(id, resolve));
    trace = [];
    markedAt = performance.now();
    await orthanc.client.setStudyMetadata(id, METADATA.pending, MARK);
    await done;
    // The checks our own writes cause come after done: let them land before the next mark.
    await new Promise((r) => setTimeout(r, 300));
  }
  // Each study's series become stable StableAge (10 s) after their last instance: that work is per study too.
  await new Promise((r) => setTimeout(r, 12_000));
  counting = false;
  socket.terminate();
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  console.log(`round trips per study (${count} one-image studies, ${values.approaches}, marked one at a time): ${(total / count).toFixed(1)}`);
  for (const [key, n] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`${(n / count).toFixed(2).padStart(7)}  ${key}`);
  if (values.trace) console.log(`the last study's requests, from its mark:\n${trace.join('\n')}`);
} finally {
  await sidecar.stop();
  await proxy.close();
  await orthanc.stop();
}
