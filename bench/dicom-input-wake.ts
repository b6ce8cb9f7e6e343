/**
 * How long a study whose measurements arrive inside DICOM (a SEG, another system's TID 1500 SR)
 * waits for the sidecar once its series is stable: from the moment Orthanc reports the pushed
 * series stable (polled every 20 ms) to the done status. Such a study carries no mark, so only the
 * StableSeries change (read at the next poll) or the Lua script's OnStableSeries wake-up starts it.
 *
 *   npm run bench:input-wake -- \
 *     [--studies 6] [--poll 2000] [--script orthanc/kidney-volumes.lua] [--kinds seg,vendor-sr]
 *
 * --script another Lua file (an older kidney-volumes.lua, from git show) to compare; --script none
 * runs without Lua. One throwaway Orthanc (StableAge 1 s) and the real sidecar process per kind.
 * Each input is pushed 0.3 s plus up to one poll interval (at random) after the previous one was done,
 * so that they do not fall in step with the poll.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { METADATA } from '../src/orthanc/metadata.js';
import { parseStatus } from '../src/status/status.js';
import { pushDicomInput, type DicomInputKind } from '../test/fixtures/dicom-input-studies.js';
import { ORTHANC_CONFIG, freePort, startOrthanc, type TestOrthanc } from '../test/helpers/orthanc.js';
import { runSidecar } from '../test/helpers/sidecar-process.js';

/** The repository root: this file runs as dist/bench/bench/dicom-input-wake.js. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'bundle', 'main.js');
const HOOK_TOKEN = 'bench-hook-token';

const { values } = parseArgs({
  options: { studies: { type: 'string', default: '6' }, poll: { type: 'string', default: '2000' }, script: { type: 'string', default: join(ROOT, 'orthanc', 'kidney-volumes.lua') }, kinds: { type: 'string', default: 'seg,vendor-sr' } },
});
const STUDIES = Number(values.studies);
const SCRIPT = values.script === 'none' ? undefined : resolve(values.script);

// startOrthanc reads orthanc/orthanc.json relative to its own compiled file (dist/bench/test/helpers).
mkdirSync(dirname(ORTHANC_CONFIG), { recursive: true });
if (ORTHANC_CONFIG !== join(ROOT, 'orthanc', 'orthanc.json')) copyFileSync(join(ROOT, 'orthanc', 'orthanc.json'), ORTHANC_CONFIG);

console.log(`stable-to-done wait, ${STUDIES} studies per kind, KV_POLL_INTERVAL_MS=${values.poll}, Lua: ${SCRIPT ?? 'none'}, ms`);
console.log(['input', 'p50', 'max', 'min', 'samples'].map((h) => h.padEnd(12)).join(''));
for (const kind of values.kinds.split(',') as DicomInputKind[]) {
  const samples = await measure(kind);
  const sorted = [...samples].sort((a, b) => a - b);
  const row = [kind, sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN, Math.max(...samples), Math.min(...samples), samples.map((v) => Math.round(v)).join(' ')];
  console.log(row.map((v) => String(typeof v === 'number' ? Math.round(v) : v).padEnd(12)).join(''));
}

async function measure(kind: DicomInputKind): Promise<number[]> {
  const port = await freePort();
  const orthanc = await startOrthanc({ StableAge: 1, ...(SCRIPT ? { LuaScripts: [SCRIPT] } : {}) }, { env: { KV_SIDECAR_URL: `http://127.0.0.1:${port}`, KV_HOOK_TOKEN: HOOK_TOKEN } });
  const sidecar = await runSidecar({ port, cli: CLI, env: { ...orthanc.env, KV_POLL_INTERVAL_MS: values.poll, KV_LOG_LEVEL: 'warn', KV_SWEEP_INTERVAL_MS: '3600000', KV_HOOK_TOKEN: HOOK_TOKEN } });
  try {
    const samples: number[] = [];
    for (let i = 0; i < STUDIES; i++) {
      await new Promise((r) => setTimeout(r, 300 + Math.random() * Number(values.poll)));
      const pushed = await pushDicomInput(orthanc.client, kind);
      const stable = await until(async () => (await orthanc.client.series(pushed.seriesId)).IsStable === true, 30_000, `series ${pushed.seriesId} stable`);
      const done = await until(() => isDone(orthanc, pushed.studyId), 30_000, `study ${pushed.studyId} done\n${sidecar.stdout()}`);
      samples.push(done - stable);
    }
    return samples;
  } finally {
    await sidecar.stop();
    await orthanc.stop();
  }
}

async function isDone(orthanc: TestOrthanc, studyId: string): Promise<boolean> {
  const revision = await orthanc.client.studyMetadata(studyId, METADATA.status);
  const state = revision ? parseStatus(revision.value)?.state : undefined;
  if (state === 'failed') throw new Error(`study ${studyId} failed: ${revision?.value ?? ''}`);
  return state === 'done';
}

/** Polls every 20 ms; answers performance.now() when the condition first held. */
async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now();
}
