/**
 * Load on the sidecar: many small studies against one Orthanc, with 1 and with 3 replicas.
 *  - burst: every study marked at once; studies per second from the first mark to the last done,
 *    and the mark-to-done latency (p50, p95, p99) of each study.
 *  - steady: studies marked at a fixed rate (default 10 per second); the same latencies.
 * Peak RSS of each replica is its VmHWM from /proc once the scenario is over. CPU time per study of
 * the sidecars and of Orthanc (from /proc, first mark to last done) shows which of the two is the
 * limit on a machine whose cores are busy.
 *
 * Run by hand after building (tsx is not installed, so the benchmark is compiled too):
 *   npm run build && npx tsc -p bench/tsconfig.json && node dist/bench/bench/load.js \
 *     [--studies 1000] [--rate 10] [--seconds 30] [--approaches sr,fhir] [--replicas 1,3] [--concurrency 4] [--node-options=...] [--cpu-prof DIR]
 *     [--wake lua|poll] [--samples] [--settle] [--warmup 10]
 * --cpu-prof writes each sidecar's V8 CPU profile (.cpuprofile) into DIR when it stops.
 * --wake lua (default) runs Orthanc with orthanc/kidney-volumes.lua and the hook token, as
 * docker-compose.yml does, so a mark wakes the sidecar at once; --wake poll leaves the sidecar to
 * find marks at its next poll of the changes feed (every KV_POLL_INTERVAL_MS, 1 s by default).
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { mapLimit } from '../src/pipeline/concurrency.js';
import { METADATA } from '../src/orthanc/metadata.js';
import type { StudyEvent } from '../src/sidecar/events.js';
import { buildStudy, ctStudy } from '../test/fixtures/studies.js';
import { ORTHANC_CONFIG, freePort, startOrthanc, type TestOrthanc } from '../test/helpers/orthanc.js';
import { runSidecar, type RunningSidecar } from '../test/helpers/sidecar-process.js';

/** The repository root: this file runs as dist/bench/bench/load.js. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'bundle', 'main.js');
const MARK = JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });
const SCRIPT = join(ROOT, 'orthanc', 'kidney-volumes.lua');
const HOOK_TOKEN = 'bench-hook-token';

const { values } = parseArgs({
  options: {
    studies: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '30' },
    approaches: { type: 'string', default: 'sr,fhir' },
    replicas: { type: 'string', default: '1,3' },
    concurrency: { type: 'string', default: '4' },
    // The sidecar's NODE_OPTIONS; by default the deployed heap limits (SIDECAR_NODE_OPTIONS), '' for none.
    'node-options': { type: 'string' },
    // A CPU profile of each sidecar (node --cpu-prof), for finding where its time per study goes.
    'cpu-prof': { type: 'string' },
    wake: { type: 'string', default: 'lua' },
    // Prints each study's mark-to-done latency in the order of the marks (ms), to see when the slow ones came.
    samples: { type: 'boolean', default: false },
    // Waits until the uploaded studies are stable (StableAge, 10 s) before the sidecar starts, so the
    // marks do not meet the wave of StableSeries/StableStudy checks the uploads cause 10 s later.
    settle: { type: 'boolean', default: false },
    // Studies marked one after another and waited for before the measured ones (not counted): a
    // sidecar that just started answers its first marks late (loading, compiling), and at 10/s the
    // backlog of its first second showed as the p95 (issue 17), which a sidecar running for weeks never sees.
    warmup: { type: 'string', default: '10' },
  },
});

// startOrthanc reads orthanc/orthanc.json relative to its own compiled file (dist/bench/test/helpers).
mkdirSync(dirname(ORTHANC_CONFIG), { recursive: true });
if (ORTHANC_CONFIG !== join(ROOT, 'orthanc', 'orthanc.json')) copyFileSync(join(ROOT, 'orthanc', 'orthanc.json'), ORTHANC_CONFIG);

/** What one scenario measured. */
interface Figures {
  readonly studiesPerSecond: number;
  readonly latenciesMs: number[];
  readonly peakRssMb: number[];
  /** CPU seconds (user + system) from the first mark to the last done: the sidecars together, and Orthanc. */
  readonly cpuSidecar: number;
  readonly cpuOrthanc: number;
}

/** CPU seconds (utime + stime) a process has used, from /proc/PID/stat (in clock ticks of 1/100 s on Linux). */
function cpuSeconds(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${pid ?? 0}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

if (values.wake !== 'lua' && values.wake !== 'poll') throw new Error(`--wake is lua or poll, not ${values.wake}`);
const lua = values.wake === 'lua';
console.log(`sidecar load, one Orthanc (SQLite), studies of 1 CT image, approaches ${values.approaches}, KV_CONCURRENCY ${values.concurrency}, wake-up ${lua ? "Orthanc's Lua script (as docker-compose.yml)" : 'polling only'}; "sidecar" and "Orthanc": ms of CPU time per study`);
console.log(['scenario', 'replicas', 'studies', 'studies/s', 'p50 ms', 'p95 ms', 'p99 ms', 'sidecar', 'Orthanc', 'peak RSS MB per replica'].map((h) => h.padEnd(11)).join(''));
for (const replicas of values.replicas.split(',').map(Number)) {
  const burst = await scenario(replicas, Number(values.studies), 0);
  print('burst', replicas, Number(values.studies), burst);
  const steadyStudies = Number(values.rate) * Number(values.seconds);
  const steady = await scenario(replicas, steadyStudies, Number(values.rate));
  print(`${values.rate}/s`, replicas, steadyStudies, steady);
}

function print(name: string, replicas: number, studies: number, f: Figures): void {
  const row = [
    name,
    replicas,
    studies,
    f.studiesPerSecond.toFixed(1),
    ...[50, 95, 99].map((p) => Math.round(percentile(f.latenciesMs, p))),
    ((f.cpuSidecar * 1000) / studies).toFixed(1),
    ((f.cpuOrthanc * 1000) / studies).toFixed(1),
    f.peakRssMb.map((m) => m.toFixed(0)).join(' / '),
  ];
  console.log(row.map((v) => String(v).padEnd(11)).join(''));
  if (values.samples) console.log(`  latencies in the order of the marks: ${f.latenciesMs.map((v) => Math.round(v)).join(' ')}`);
}

/** Uploads the studies, starts the replicas, marks every study (all at once when rate is 0), and waits for every done. */
async function scenario(replicas: number, count: number, rate: number): Promise<Figures> {
  // The Lua script wakes one sidecar (KV_SIDECAR_URL), the first replica, as in docker-compose.scale.yml each Orthanc wakes its own.
  const firstPort = await freePort();
  const orthanc = await startOrthanc(lua ? { LuaScripts: [SCRIPT] } : {}, lua ? { env: { KV_SIDECAR_URL: `http://127.0.0.1:${firstPort}`, KV_HOOK_TOKEN: HOOK_TOKEN } } : {});
  const sidecars: RunningSidecar[] = [];
  const sockets: WebSocket[] = [];
  try {
    const warmup = Number(values.warmup);
    const uploaded = await mapLimit(Array.from({ length: count + warmup }), 4, async () => (await orthanc.client.upload(buildStudy(ctStudy(1)).files[0]!)).ParentStudy);
    const warmupIds = uploaded.slice(0, warmup);
    const ids = uploaded.slice(warmup);
    const measured = new Set(ids);
    if (values.settle) await new Promise((r) => setTimeout(r, 12_000));
    for (let r = 1; r <= replicas; r++) {
      sidecars.push(
        await runSidecar({
          cli: CLI,
          ...(r === 1 ? { port: firstPort } : {}),
          ...(values['cpu-prof'] !== undefined ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] } : {}),
          env: { ...orthanc.env, KV_APPROACHES: values.approaches, KV_LOG_LEVEL: 'warn', KV_SWEEP_INTERVAL_MS: '3600000', KV_REPLICA_ID: `r${r}`, KV_CONCURRENCY: values.concurrency, ...(lua ? { KV_HOOK_TOKEN: HOOK_TOKEN } : {}), ...(values['node-options'] !== undefined ? { NODE_OPTIONS: values['node-options'] } : {}) },
        }),
      );
    }
    const marked = new Map<string, number>();
    const finished = new Map<string, number>();
    const warmed = new Set<string>();
    let warmedUp: () => void = () => undefined;
    const allWarm = new Promise<void>((resolve) => (warmedUp = resolve));
    let allDone: () => void = () => undefined;
    const everyDone = new Promise<void>((resolve) => (allDone = resolve));
    for (const sidecar of sidecars) {
      const socket = new WebSocket(`ws://127.0.0.1:${sidecar.port}/events`, { headers: sidecar.auth });
      socket.on('message', (data: Buffer) => {
        const event = JSON.parse(data.toString()) as StudyEvent;
        if (event.kind === 'failed') console.error(`study ${event.studyId} failed: ${event.message ?? ''}`);
        if ((event.kind === 'done' || event.kind === 'failed') && !measured.has(event.studyId)) {
          warmed.add(event.studyId);
          if (warmed.size === warmup) warmedUp();
        }
        if ((event.kind === 'done' || event.kind === 'failed') && measured.has(event.studyId) && !finished.has(event.studyId)) {
          finished.set(event.studyId, performance.now());
          if (finished.size === count) allDone();
        }
      });
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      sockets.push(socket);
    }
    if (warmup > 0) {
      for (const id of warmupIds) await orthanc.client.setStudyMetadata(id, METADATA.pending, MARK);
      await allWarm;
      // The checks the warm-up's own writes cause land before the measured marks.
      await new Promise((r) => setTimeout(r, 500));
    }
    const cpuBefore = { sidecar: sidecars.reduce((n, s) => n + cpuSeconds(s.child.pid), 0), orthanc: cpuSeconds(orthanc.pid) };
    const first = performance.now();
    await markAll(orthanc, ids, rate, marked);
    const timeout = setTimeout(() => console.error(`not every study done after 10 minutes (${finished.size} of ${count})`), 600_000);
    await everyDone;
    clearTimeout(timeout);
    const last = Math.max(...finished.values());
    const cpuSidecar = sidecars.reduce((n, s) => n + cpuSeconds(s.child.pid), 0) - cpuBefore.sidecar;
    const cpuOrthanc = cpuSeconds(orthanc.pid) - cpuBefore.orthanc;
    return {
      cpuSidecar,
      cpuOrthanc,
      studiesPerSecond: count / ((last - first) / 1000),
      latenciesMs: ids.map((id) => (finished.get(id) ?? Number.NaN) - (marked.get(id) ?? Number.NaN)),
      peakRssMb: sidecars.map((s) => peakRssMb(s.child.pid)),
    };
  } finally {
    for (const socket of sockets) socket.terminate();
    for (const sidecar of sidecars) await sidecar.stop();
    await orthanc.stop();
  }
}

/** Marks every study over REST: all at once (16 requests in flight) when rate is 0, else `rate` per second. */
async function markAll(orthanc: TestOrthanc, ids: readonly string[], rate: number, marked: Map<string, number>): Promise<void> {
  const mark = async (id: string): Promise<void> => {
    marked.set(id, performance.now());
    await orthanc.client.setStudyMetadata(id, METADATA.pending, MARK);
  };
  if (rate === 0) {
    await mapLimit(ids, 16, mark);
    return;
  }
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  for (const [index, id] of ids.entries()) {
    const due = start + (index * 1000) / rate;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    inFlight.push(mark(id));
  }
  await Promise.all(inFlight);
}

/** The process's peak resident set size (VmHWM), in MB. */
function peakRssMb(pid: number | undefined): number {
  const line = readFileSync(`/proc/${pid ?? 0}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? Number.NaN) / 1024;
}

/** Nearest-rank percentile. */
function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}
