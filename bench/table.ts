/**
 * Issue 17's table, measured: each line on synthetic studies against a throwaway Orthanc, printed
 * with its target and the ratio measured in the same run. Memory is read from /proc/PID/status
 * (VmRSS now, VmHWM the peak). Noisy figures are repeated (--runs) and shown as min/median/max.
 *
 *   npm run bench -- [--runs 3] [--sizes 200,1000] [--flat 300] [--lines version,rss,private,load,attach] [--cpu-prof DIR] [--wake lua|poll]
 *
 * The "original tool" line is a MODEL of the original Python tool's approach, not that tool: for
 * each image, Orthanc's /instances/{id}/modify with the private tags (keeping the UIDs), DELETE of
 * the original and upload of the modified copy: its cost in Orthanc REST calls, on a throwaway
 * Orthanc holding only synthetic images made for that line.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { EXPLICIT_LE, Tag } from '../src/dicom/private-tags/encoding.js';
import { elementBytes, uidValue } from '../src/dicom/private-tags/encode.js';
import { assemblePart10, parsePart10, splice } from '../src/dicom/private-tags/part10-file.js';
import { newUid } from '../src/uids.js';
import { mapLimit } from '../src/pipeline/concurrency.js';
import { METADATA } from '../src/orthanc/metadata.js';
import type { StudyEvent } from '../src/sidecar/events.js';
import { buildStudy, ctStudy } from '../test/fixtures/studies.js';
import { ORTHANC_CONFIG, startOrthanc, type TestOrthanc } from '../test/helpers/orthanc.js';
import { runSidecar, type RunningSidecar } from '../test/helpers/sidecar-process.js';
import { writeCtSeries } from './ct-series.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'bundle', 'main.js');
const MARK = JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '200,1000' },
    flat: { type: 'string', default: '300' },
    lines: { type: 'string', default: 'version,rss,private,load,attach' },
    'cpu-prof': { type: 'string' },
    // The load line's wake-up: Orthanc's Lua script as docker-compose.yml runs it, or polling alone.
    wake: { type: 'string', default: 'lua' },
  },
});
const RUNS = Number(values.runs);
const LINES = new Set(values.lines.split(','));

mkdirSync(dirname(ORTHANC_CONFIG), { recursive: true });
if (ORTHANC_CONFIG !== join(ROOT, 'orthanc', 'orthanc.json')) copyFileSync(join(ROOT, 'orthanc', 'orthanc.json'), ORTHANC_CONFIG);

/** min/median/max of samples, formatted with `digits`. */
function spread(samples: readonly number[], digits = 2): string {
  const s = [...samples].sort((a, b) => a - b);
  const median = s[Math.floor((s.length - 1) / 2)] as number;
  const f = (v: number): string => v.toFixed(digits);
  return s.length === 1 ? f(median) : `${f(s[0] as number)} / ${f(median)} / ${f(s.at(-1) as number)}`;
}
const median = (samples: readonly number[]): number => [...samples].sort((a, b) => a - b)[Math.floor((samples.length - 1) / 2)] as number;

function row(what: string, measured: string, target: string, verdict: boolean | undefined): void {
  console.log(`| ${what} | ${measured} | ${target} | ${verdict === undefined ? '-' : verdict ? 'met' : 'NOT met'} |`);
}

/** VmRSS and VmHWM of a running process, in MB. */
function memoryMb(pid: number | undefined): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid ?? 0}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** Runs a short process `times` times; wall time (ms) and its VmHWM read from /proc/self/status as it exits. */
function shortProcess(args: readonly string[], times: number): { ms: number[]; hwmMb: number[] } {
  const probe = join(mkdtempSync(join(tmpdir(), 'kv-bench-')), 'hwm.cjs');
  writeFileSync(probe, "process.on('exit',()=>{const s=require('fs').readFileSync('/proc/self/status','utf8');require('fs').writeFileSync(process.env.KV_HWM_OUT,/VmHWM:\\s+(\\d+)/.exec(s)[1])})");
  const out = `${probe}.out`;
  const ms: number[] = [];
  const hwmMb: number[] = [];
  for (let i = 0; i < times; i++) {
    const start = performance.now();
    execFileSync(process.execPath, ['--require', probe, ...args], { env: { ...process.env, KV_HWM_OUT: out }, stdio: 'pipe' });
    ms.push(performance.now() - start);
    hwmMb.push(Number(readFileSync(out, 'utf8')) / 1024);
  }
  return { ms, hwmMb };
}

function versionLine(): void {
  const times = Math.max(5, RUNS * 3);
  const bare = shortProcess(['-e', '0'], times);
  const version = shortProcess([CLI, '--version'], times);
  const ratios = version.ms.map((ms, i) => ms / (bare.ms[i] as number));
  row('`kidney-volumes --version`', `${spread(version.ms, 0)} ms vs \`node -e 0\` ${spread(bare.ms, 0)} ms: ratio ${spread(ratios)}; VmHWM ${spread(version.hwmMb, 0)} MB`, 'at most 3x, at most 60 MB', median(ratios) <= 3 && median(version.hwmMb) <= 60);
}

/** A sidecar process with its events socket; `done(id)` waits for a study's done (or fails on failed). */
async function sidecarWithEvents(orthanc: TestOrthanc, env: Record<string, string>): Promise<{ sidecar: RunningSidecar; done: (id: string) => Promise<void>; close: () => Promise<void> }> {
  const sidecar = await runSidecar({ cli: CLI, env: { ...orthanc.env, KV_LOG_LEVEL: 'warn', KV_SWEEP_INTERVAL_MS: '3600000', ...env } });
  const waiting = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  const finished = new Set<string>();
  const socket = new WebSocket(`ws://127.0.0.1:${sidecar.port}/events`, { headers: sidecar.auth });
  socket.on('message', (data: Buffer) => {
    const event = JSON.parse(data.toString()) as StudyEvent;
    if (event.kind === 'done') (finished.add(event.studyId), waiting.get(event.studyId)?.resolve());
    if (event.kind === 'failed') waiting.get(event.studyId)?.reject(new Error(`study ${event.studyId} failed: ${event.message ?? ''}`));
  });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const done = (id: string): Promise<void> =>
    finished.has(id) ? Promise.resolve() : new Promise<void>((resolve, reject) => waiting.set(id, { resolve, reject }));
  return {
    sidecar,
    done,
    close: async () => {
      socket.terminate();
      await sidecar.stop();
    },
  };
}

/** RSS every 30 studies of a sidecar (all three outputs) over `total` studies. */
async function rssSamples(orthanc: TestOrthanc, env: Record<string, string>, total: number): Promise<{ samples: { studies: number; rss: number }[]; hwm: number }> {
  const { sidecar, done, close } = await sidecarWithEvents(orthanc, { KV_APPROACHES: 'all', ...env });
  try {
    const batch = async (count: number): Promise<void> => {
      const ids = await mapLimit(Array.from({ length: count }), 4, async () => (await uploadStudyQuietly(orthanc, 2)));
      await mapLimit(ids, 4, async (id) => {
        const finished = done(id);
        await orthanc.client.setStudyMetadata(id, METADATA.pending, MARK);
        await finished;
      });
    };
    const samples: { studies: number; rss: number }[] = [];
    for (let studies = 30; studies <= total; studies += 30) {
      await batch(30);
      samples.push({ studies, rss: memoryMb(sidecar.child.pid).rss });
    }
    return { samples, hwm: memoryMb(sidecar.child.pid).hwm };
  } finally {
    await close();
  }
}

async function rssLine(): Promise<void> {
  const orthanc = await startOrthanc();
  try {
    // As deployed (the Dockerfile's NODE_OPTIONS, which the test helper applies), then without them.
    const { samples, hwm } = await rssSamples(orthanc, {}, Math.max(60, Number(values.flat)));
    const after30 = samples[0] as { studies: number; rss: number };
    const last = samples.at(-1) as { studies: number; rss: number };
    const perHundred = slope(samples.slice(Math.floor(samples.length / 2))) * 100;
    row('sidecar RSS after 30 small studies, all three outputs', `${after30.rss.toFixed(0)} MB (load ${loadNow()})`, 'at most 120 MB', after30.rss <= 120);
    row(
      `... and after ${last.studies} studies (flat?)`,
      `${last.rss.toFixed(0)} MB (VmHWM ${hwm.toFixed(0)}): ratio to 30 studies ${(last.rss / after30.rss).toFixed(2)}; slope over the second half ${perHundred.toFixed(1)} MB per 100 studies; every 30: ${samples.map((x) => x.rss.toFixed(0)).join(' ')} (load ${loadNow()})`,
      'the same (ratio at most 1.15, slope under 2 MB per 100)',
      last.rss / after30.rss <= 1.15 && Math.abs(perHundred) < 2,
    );
    const bare = await rssSamples(orthanc, { NODE_OPTIONS: '' }, 90);
    // Compared at the same number of studies (90, or fewer when --flat is smaller).
    const same = Math.min(2, samples.length - 1);
    row(
      '... the same sidecar without the heap limits (NODE_OPTIONS empty), 30 / 60 / 90 studies',
      `${bare.samples.map((x) => x.rss.toFixed(0)).join(' / ')} MB (VmHWM ${bare.hwm.toFixed(0)}): the limits save ${((bare.samples[same]?.rss ?? 0) - (samples[same]?.rss ?? 0)).toFixed(0)} MB at ${(same + 1) * 30} studies`,
      'for comparison',
      undefined,
    );
  } finally {
    await orthanc.stop();
  }
}

/** Least-squares slope of rss over studies (MB per study). */
function slope(samples: readonly { studies: number; rss: number }[]): number {
  const mx = samples.reduce((a, x) => a + x.studies, 0) / samples.length;
  const my = samples.reduce((a, x) => a + x.rss, 0) / samples.length;
  const den = samples.reduce((a, x) => a + (x.studies - mx) ** 2, 0);
  return den === 0 ? 0 : samples.reduce((a, x) => a + (x.studies - mx) * (x.rss - my), 0) / den;
}

/** The 1-minute load average now. */
const loadNow = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ')[0] ?? '?';

/** Uploads a small CT study of `images` 16x16 images; answers its Orthanc ID. */
async function uploadStudyQuietly(orthanc: TestOrthanc, images: number): Promise<string> {
  let id = '';
  for (const file of buildStudy(ctStudy(images)).files) id = (await orthanc.client.upload(file)).ParentStudy;
  return id;
}

/** Orthanc's own REST ingest of the files, 4 at a time: the floor. Answers ms and the study's Orthanc ID. */
async function ingest(orthanc: TestOrthanc, paths: readonly string[]): Promise<{ ms: number; studyId: string }> {
  const start = performance.now();
  const results = await mapLimit(paths, 4, async (path) => orthanc.client.upload(readFileSync(path)));
  return { ms: performance.now() - start, studyId: results[0]?.ParentStudy ?? '' };
}

async function privateLine(): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), 'kv-bench-'));
  const orthanc = await startOrthanc();
  try {
    const { studyId } = await ingest(orthanc, writeCtSeries(folder, 300));
    const { sidecar, done, close } = await sidecarWithEvents(orthanc, { KV_APPROACHES: 'private' });
    try {
      const finished = done(studyId);
      await orthanc.client.setStudyMetadata(studyId, METADATA.pending, MARK);
      await finished;
      const { hwm } = memoryMb(sidecar.child.pid);
      row('sidecar peak RSS during a 300-image private-tag pass', `VmHWM ${hwm.toFixed(0)} MB`, 'at most 160 MB', hwm <= 160);
    } finally {
      await close();
    }
  } finally {
    await orthanc.stop();
    rmSync(folder, { recursive: true, force: true });
  }
}

/** The load benchmark (bench/load.ts), one replica: burst of 500 and 10/s; its rows parsed. */
function loadLine(): void {
  const output = execFileSync(process.execPath, [join(ROOT, 'dist', 'bench', 'bench', 'load.js'), '--studies', '500', '--replicas', '1', '--rate', '10', '--seconds', '30', '--wake', values.wake, ...(values['cpu-prof'] !== undefined ? ['--cpu-prof', values['cpu-prof']] : [])], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const rows = output.split('\n').filter((l) => /^(burst|10\/s)\s/.test(l)).map((l) => l.trim().split(/\s{2,}|\s+/));
  const burst = rows.find((r) => r[0] === 'burst');
  const steady = rows.find((r) => r[0] === '10/s');
  if (!burst || !steady) throw new Error(`bench/load.js printed no rows:\n${output}`);
  // Columns: scenario, replicas, studies, studies/s, p50, p95, p99, CPU ms per study of the sidecar and of Orthanc, peak RSS.
  row('sidecar peak RSS, 500 one-image studies marked at once (SR + FHIR)', `VmHWM ${burst[9]} MB`, 'at most 160 MB', Number(burst[9]) <= 160);
  // Orthanc is the limit when it needs more CPU per study than the sidecar (both share the machine's cores).
  const orthancLimit = Number(burst[8]) > Number(burst[7]);
  row(
    `SR + FHIR throughput, burst of 500 (wake-up: ${values.wake})`,
    `${burst[3]} studies/s (p95 ${burst[5]} ms); CPU per study: sidecar ${burst[7]} ms, Orthanc ${burst[8]} ms (${orthancLimit ? 'Orthanc' : 'the sidecar'} uses more); load ${loadNow()}`,
    'at least 70 studies/s, or Orthanc the limit',
    Number(burst[3]) >= 70 || orthancLimit,
  );
  row(`p95 mark-to-done at 10/s offered (wake-up: ${values.wake})`, `${steady[5]} ms (p50 ${steady[4]}, p99 ${steady[6]}; VmHWM ${steady[9]} MB; load ${loadNow()})`, 'under 500 ms', Number(steady[5]) < 500);
}

/** CPU time (user + system) of a process so far, in ms, from /proc/PID/stat. */
function cpuMsOf(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid ?? 0}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  // utime and stime are fields 14 and 15 of stat (11 and 12 after the command name), in clock ticks of 10 ms.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Written into every attach process (--require): its own CPU time at exit, read back by attachProcess. */
const CPU_PROBE = join(mkdtempSync(join(tmpdir(), 'kv-bench-')), 'cpu.cjs');
writeFileSync(CPU_PROBE, "process.on('exit',()=>{const u=process.cpuUsage();require('fs').writeFileSync(process.env.KV_CPU_OUT,String((u.user+u.system)/1000))})");

/**
 * Runs `attach --approach private` as a whole process; answers its wall time, its own CPU time and
 * Orthanc's CPU time meanwhile, in ms. CPU times depend less on what else runs on the machine than
 * wall times (other helpers' tests made the wall times vary by a factor of two in one session).
 */
function attachProcess(orthanc: TestOrthanc, studyId: string, env: Record<string, string> = {}): Promise<{ ms: number; cpuMs: number; orthancCpuMs: number }> {
  return new Promise((resolve, reject) => {
    const cpuOut = `${CPU_PROBE}.${studyId}.out`;
    const orthancBefore = cpuMsOf(orthanc.pid);
    const start = performance.now();
    const profile = values['cpu-prof'] !== undefined ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [];
    const child = spawn(process.execPath, [...profile, '--require', CPU_PROBE, CLI, 'attach', studyId, '--approach', 'private', '--right', '125', '--left', '132', '--json'], {
      env: { PATH: process.env['PATH'] ?? '', ...orthanc.env, KV_TIMEZONE: 'UTC', KV_CPU_OUT: cpuOut, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.resume();
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`attach exited ${code}: ${err}`));
      resolve({ ms: performance.now() - start, cpuMs: Number(readFileSync(cpuOut, 'utf8')), orthancCpuMs: cpuMsOf(orthanc.pid) - orthancBefore });
    });
  });
}

/**
 * MODEL of the original tool's approach (see the header): per image, /modify with the private tags
 * keeping the UIDs, DELETE of the original, upload of the modified copy; 4 images at a time.
 */
async function originalToolModel(orthanc: TestOrthanc, studyId: string): Promise<number> {
  const auth = `Basic ${Buffer.from(`${orthanc.username}:${orthanc.password}`).toString('base64')}`;
  const call = async (method: string, path: string, body?: string | Buffer): Promise<Response> => {
    const response = await fetch(`${orthanc.url}${path}`, { method, headers: { authorization: auth }, ...(body !== undefined ? { body } : {}) });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response;
  };
  const series = await orthanc.client.studySeries(studyId);
  const instances = series.flatMap((s) => s.Instances);
  const start = performance.now();
  await mapLimit(instances, 4, async (id) => {
    const request = { Replace: { '0011,0010': 'KIDNEY_VOLUMES', '0011,1010': 'Right Kidney: 125 ml\\Left Kidney: 132 ml' }, Keep: ['SOPInstanceUID', 'SeriesInstanceUID', 'StudyInstanceUID'], Force: true, PrivateCreator: 'KIDNEY_VOLUMES' };
    const modified = Buffer.from(await (await call('POST', `/instances/${id}/modify`, JSON.stringify(request))).arrayBuffer());
    await call('DELETE', `/instances/${id}`);
    await call('POST', '/instances', modified);
  });
  return performance.now() - start;
}

/**
 * The floor of any pass that copies every image: each image of the study downloaded and a copy
 * uploaded (only its SOP Instance UID changed, nothing checked), 4 at a time, in this (warm) process.
 */
async function downloadUploadFloor(orthanc: TestOrthanc, studyId: string): Promise<{ ms: number; cpuMs: number }> {
  const instances = (await orthanc.client.studySeries(studyId)).flatMap((s) => s.Instances);
  const start = performance.now();
  const cpuBefore = process.cpuUsage();
  await mapLimit(instances, 4, async (id) => {
    const file = parsePart10(await orthanc.client.instanceFile(id));
    const uid = newUid();
    const meta = new Map([[Tag.MediaStorageSOPInstanceUID, elementBytes(Tag.MediaStorageSOPInstanceUID, 'UI', uidValue(uid), EXPLICIT_LE)]]);
    const dataset = new Map([[Tag.SOPInstanceUID, elementBytes(Tag.SOPInstanceUID, 'UI', uidValue(uid), EXPLICIT_LE)]]);
    await orthanc.client.upload(assemblePart10(file, splice(file.meta, file.metaElements, meta), splice(file.dataset, file.elements, dataset)));
  });
  const cpu = process.cpuUsage(cpuBefore);
  return { ms: performance.now() - start, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function attachLine(): Promise<void> {
  for (const n of values.sizes.split(',').map(Number)) {
    const ratios: number[] = [];
    const modelRatios: number[] = [];
    const attachMs: number[] = [];
    const ingestMs: number[] = [];
    const modelMs: number[] = [];
    const floorMs: number[] = [];
    const floorCpuMs: number[] = [];
    const seriesScopeRatios: number[] = [];
    const fixedMs: number[] = [];
    const cpuMs: number[] = [];
    const orthancCpuMs: number[] = [];
    const fixedCpuMs: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const folder = mkdtempSync(join(tmpdir(), 'kv-bench-'));
      const orthanc = await startOrthanc();
      try {
        // The same images: Orthanc's ingest (the floor), then our pass over them as a whole process.
        const floor = await ingest(orthanc, writeCtSeries(folder, n));
        const ours = await attachProcess(orthanc, floor.studyId);
        // The model runs on its own fresh images in this throwaway Orthanc (it deletes what it modifies).
        rmSync(folder, { recursive: true, force: true });
        mkdirSync(folder);
        const other = await ingest(orthanc, writeCtSeries(folder, n));
        const model = await originalToolModel(orthanc, other.studyId);
        // What no pass over every image can go below, and what the process costs with one image.
        rmSync(folder, { recursive: true, force: true });
        mkdirSync(folder);
        const floorRun = await downloadUploadFloor(orthanc, (await ingest(orthanc, writeCtSeries(folder, n))).studyId);
        floorMs.push(floorRun.ms);
        floorCpuMs.push(floorRun.cpuMs);
        const fixed = await attachProcess(orthanc, (await ingest(orthanc, writeCtSeries(folder, 1))).studyId);
        // The setting for sites that only need the tags to travel with each series: one copy per series.
        rmSync(folder, { recursive: true, force: true });
        mkdirSync(folder);
        const perSeries = await attachProcess(orthanc, (await ingest(orthanc, writeCtSeries(folder, n))).studyId, { KV_PRIVATE_SCOPE: 'series' });
        seriesScopeRatios.push(perSeries.ms / floor.ms);
        fixedMs.push(fixed.ms);
        fixedCpuMs.push(fixed.cpuMs);
        attachMs.push(ours.ms);
        cpuMs.push(ours.cpuMs);
        orthancCpuMs.push(ours.orthancCpuMs);
        ingestMs.push(floor.ms);
        modelMs.push(model);
        ratios.push(ours.ms / floor.ms);
        modelRatios.push(ours.ms / model);
      } finally {
        await orthanc.stop();
        rmSync(folder, { recursive: true, force: true });
      }
    }
    row(
      `\`attach --approach private\`, ${n} CT images 512x512, whole process, vs Orthanc's REST ingest`,
      `${spread(attachMs.map((m) => m / 1000))} s vs ${spread(ingestMs.map((m) => m / 1000))} s: ratio ${spread(ratios)} (load ${loadNow()})`,
      'at most 1.15x',
      median(ratios) <= 1.15,
    );
    row(
      `... its parts, ${n} images: download + upload of every image (no processing, 4 at a time) vs the ingest; the process with 1 image (start, claim, facts, read-back, status)`,
      `floor ${spread(floorMs.map((m) => m / 1000))} s: ${spread(floorMs.map((m, i) => m / (ingestMs[i] as number)))}x the ingest; 1 image ${spread(fixedMs.map((m) => m / 1000))} s; floor + 1 image ${spread(floorMs.map((m, i) => (m + (fixedMs[i] as number)) / (ingestMs[i] as number)))}x the ingest; ` +
        `CPU of the floor (its client, a warm process) ${spread(floorCpuMs.map((m) => m / 1000))} s; ` +
        `CPU of the ${n}-image process ${spread(cpuMs.map((m) => m / 1000))} s (Orthanc meanwhile ${spread(orthancCpuMs.map((m) => m / 1000))} s), of the 1-image process ${spread(fixedCpuMs.map((m) => m / 1000))} s (load ${loadNow()})`,
      'for comparison',
      undefined,
    );
    row(
      `... the same with \`KV_PRIVATE_SCOPE=series\` (one derived image per series), ${n} images, vs the same ingest`,
      `ratio ${spread(seriesScopeRatios)}`,
      'for comparison',
      undefined,
    );
    row(
      `... vs a MODEL of the original tool (per-image /modify + DELETE + re-upload), ${n} images`,
      `model ${spread(modelMs.map((m) => m / 1000))} s: ratio ${spread(modelRatios)}`,
      'at most 0.4x',
      median(modelRatios) <= 0.4,
    );
  }
}

const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`kidney-volumes issue 17 table, ${new Date().toISOString()}, node ${process.version}, load average at start ${load}, runs ${RUNS}`);
console.log('| what | measured (min / median / max where repeated) | target | |');
console.log('| --- | --- | --- | --- |');
if (LINES.has('version')) versionLine();
if (LINES.has('rss')) await rssLine();
if (LINES.has('private')) await privateLine();
if (LINES.has('load')) loadLine();
if (LINES.has('attach')) await attachLine();
console.log(`load average at end ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
