/**
 * Where the sidecar's memory goes: starts a throwaway Orthanc and the real sidecar, reads VmRSS
 * (and the V8 heap, through a heap snapshot on SIGUSR2 when --snapshot is given) at idle and after
 * each batch of small studies with all three outputs, the sidecar's CPU time per study (from
 * /proc), and prints the RSS slope per 100 studies.
 *
 *   npm run build && npx tsc -p bench/tsconfig.json && node dist/bench/bench/memory-probe.js [--studies 300] [--step 50] [--node-options "..."] [--snapshot] [--env KEY=VALUE ...]
 */
import { copyFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { mapLimit } from '../src/pipeline/concurrency.js';
import { METADATA } from '../src/orthanc/metadata.js';
import type { StudyEvent } from '../src/sidecar/events.js';
import { buildStudy, ctStudy } from '../test/fixtures/studies.js';
import { ORTHANC_CONFIG, startOrthanc } from '../test/helpers/orthanc.js';
import { runSidecar } from '../test/helpers/sidecar-process.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'bundle', 'main.js');
const MARK = JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });
const { values } = parseArgs({
  options: {
    studies: { type: 'string', default: '300' },
    step: { type: 'string', default: '50' },
    approaches: { type: 'string', default: 'all' },
    'node-options': { type: 'string', default: '' },
    snapshot: { type: 'boolean', default: false },
    signal: { type: 'boolean', default: false },
    env: { type: 'string', multiple: true, default: [] },
  },
});
mkdirSync(dirname(ORTHANC_CONFIG), { recursive: true });
if (ORTHANC_CONFIG !== join(ROOT, 'orthanc', 'orthanc.json')) copyFileSync(join(ROOT, 'orthanc', 'orthanc.json'), ORTHANC_CONFIG);

/** VmRSS and VmHWM of a process, in MB. */
function memoryMb(pid: number | undefined): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid ?? 0}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

const orthanc = await startOrthanc();
const nodeOptions = [values['node-options'], values.snapshot ? '--heapsnapshot-signal=SIGUSR2' : ''].filter(Boolean).join(' ');
const sidecar = await runSidecar({ cli: CLI, env: { ...orthanc.env, KV_APPROACHES: values.approaches, KV_LOG_LEVEL: 'warn', KV_SWEEP_INTERVAL_MS: '3600000', ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}), ...Object.fromEntries(values.env.map((e) => e.split('=', 2))) } });
const socket = new WebSocket(`ws://127.0.0.1:${sidecar.port}/events`, { headers: sidecar.auth });
const waiting = new Map<string, () => void>();
socket.on('message', (data: Buffer) => {
  const event = JSON.parse(data.toString()) as StudyEvent;
  if (event.kind === 'done' || event.kind === 'failed') waiting.get(event.studyId)?.();
  if (event.kind === 'failed') console.error(`failed ${event.studyId}: ${event.message ?? ''}`);
});
await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
const snapshot = async (label: string): Promise<void> => {
  if (!values.snapshot) return;
  const before = new Set(readdirSync(process.cwd()));
  sidecar.child.kill('SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const made = readdirSync(process.cwd()).filter((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (made.length > 0) {
      await new Promise((r) => setTimeout(r, 2000));
      console.log(`heap snapshot ${label}: ${made.join(', ')}`);
      return;
    }
  }
};
/** CPU seconds (utime + stime) the sidecar has used, from /proc/PID/stat (clock ticks of 1/100 s). */
const cpuSeconds = (): number => {
  const stat = readFileSync(`/proc/${sidecar.child.pid ?? 0}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
let lastCpu = cpuSeconds();
let lastStudies = 0;
const rows: { studies: number; rss: number }[] = [];
const at = (studies: number): void => {
  const m = memoryMb(sidecar.child.pid);
  rows.push({ studies, rss: m.rss });
  if (values.signal) sidecar.child.kill('SIGUSR2');
  const cpu = cpuSeconds();
  const perStudy = studies > lastStudies ? ((cpu - lastCpu) * 1000) / (studies - lastStudies) : 0;
  (lastCpu = cpu), (lastStudies = studies);
  console.log(`${String(studies).padStart(5)} studies  VmRSS ${m.rss.toFixed(1)} MB  VmHWM ${m.hwm.toFixed(1)} MB  sidecar CPU ${perStudy.toFixed(1)} ms per study since the last line  load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
};
try {
  at(0);
  await snapshot('idle');
  let done = 0;
  const total = Number(values.studies);
  const step = Number(values.step);
  while (done < total) {
    const count = Math.min(step, total - done);
    const ids = await mapLimit(Array.from({ length: count }), 4, async () => {
      let id = '';
      for (const file of buildStudy(ctStudy(2)).files) id = (await orthanc.client.upload(file)).ParentStudy;
      return id;
    });
    await mapLimit(ids, 4, async (id) => {
      const finished = new Promise<void>((resolve) => waiting.set(id, resolve));
      await orthanc.client.setStudyMetadata(id, METADATA.pending, MARK);
      await finished;
    });
    done += count;
    at(done);
  }
  await snapshot('end');
  // Least-squares slope of RSS over the studies after the first step (start-up and warm-up excluded).
  const tail = rows.filter((r) => r.studies >= step);
  const n = tail.length;
  const mx = tail.reduce((s, r) => s + r.studies, 0) / n;
  const my = tail.reduce((s, r) => s + r.rss, 0) / n;
  const slope = tail.reduce((s, r) => s + (r.studies - mx) * (r.rss - my), 0) / tail.reduce((s, r) => s + (r.studies - mx) ** 2, 0);
  console.log(`RSS slope after the first ${step} studies: ${(slope * 100).toFixed(2)} MB per 100 studies`);
} finally {
  socket.terminate();
  await sidecar.stop();
  await orthanc.stop();
}
