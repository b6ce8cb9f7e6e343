/**
 * Feasibility benchmark for issue 17: can Orthanc's own server-side modification make the
 * private-tag derived copy faster than copying every image through REST? Prints the time of a
 * series modification that writes our KidneyVolInfo block, as a ratio to Orthanc's REST ingest of
 * the same images in the same run, on whichever Orthanc runs (1.10 by default).
 *
 * Run from the repository root (tsx is not installed, so it is compiled first):
 *   npm run bench:modify -- --images 200 [--concurrency 4] [--runs 3] [--threads 1] [--variants series/modify,...] [--without-dictionary]
 * (which is `npx tsc -p bench/tsconfig.json && node dist/bench/bench/modify-floor.js ...`).
 * For Debian 13's Orthanc 1.12:
 *   ORTHANC_BINARY=/var/cache/kidney-volumes/debian13-orthanc/orthanc-wrapper \
 *   ORTHANC_PLUGIN_DIR=/var/cache/kidney-volumes/debian13-orthanc/usr/share/orthanc/plugins node dist/bench/bench/modify-floor.js ...
 *
 * It starts a throwaway Orthanc as the tests do, with a `Dictionary` that registers our block's
 * elements under the creator KidneyVolInfo (without it Orthanc writes them, and the creator, as UN),
 * ingests N 512x512 CT images over REST (the floor, same concurrency as the private pass), then
 * times three ways to make the derived series: `POST /series/{id}/modify` (synchronous), the same
 * with `Asynchronous: true` (a job, polled), and `POST /tools/bulk-modify` at series level. Each
 * run ingests a new study, so every ratio pairs two measurements taken close together.
 * Each result is checked (instance count, the block read back from one copy with explicit VRs), so
 * a figure for a broken copy is never printed. `--threads` sets 1.12's JobsEngineThreadsCount for
 * ResourceModification (1.10 ignores it: its modification job runs on one thread).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatTag } from '../src/dicom/private-tags/encoding.js';
import { BlockOffset, KIDNEY_CREATOR, PRIVATE_GROUP, blockContent, blockTag, type KidneyBlockContent } from '../src/dicom/private-tags/layout.js';
import { parsePart10 } from '../src/dicom/private-tags/part10-file.js';
import { readKidneyBlock } from '../src/dicom/private-tags/read.js';
import { buildSet } from '../src/measurements/parse.js';
import { mapLimit } from '../src/pipeline/concurrency.js';
import { DEFAULT_PRIVATE_CONCURRENCY } from '../src/pipeline/private-step.js';
import { stableUid } from '../src/uids.js';
import { ORTHANC_CONFIG, startOrthanc, type TestOrthanc } from '../test/helpers/orthanc.js';
import { writeCtSeries } from './ct-series.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: String(DEFAULT_PRIVATE_CONCURRENCY) },
    runs: { type: 'string', default: '1' },
    threads: { type: 'string', default: '1' },
    // Shows the trap: without the Dictionary the check below fails (creator and elements written as UN).
    'without-dictionary': { type: 'boolean', default: false },
    // Comma-separated subset of the variants, e.g. "series/modify" (default: all three).
    variants: { type: 'string', default: '' },
  },
});
const images = Number(values.images);
const concurrency = Number(values.concurrency);
const runs = Number(values.runs);
const threads = Number(values.threads);
for (const [name, n] of Object.entries({ images, concurrency, runs, threads })) {
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${String(n)}`);
}

type Dictionary = Record<string, [vr: string, name: string, minVm: number, maxVm: number, creator: string]>;

/**
 * Orthanc's `Dictionary` entries for our block. An element given as (0011,00xx) with a private
 * creator matches (0011,ssxx) in every creator slot ss (DCMTK's "flexible element number" lookup),
 * and (0011,00ss) itself, so the creator element comes out LO too (slots 10-3F, the LO text range).
 */
function blockDictionary(): Dictionary {
  const entries: Dictionary = {};
  const range = (from: number, to: number, vr: string, name: string, vm = 1): void => {
    for (let x = from; x <= to; x++) entries[`0011,00${x.toString(16).toUpperCase().padStart(2, '0')}`] = [vr, `${name}${x.toString(16)}`, vm, vm, KIDNEY_CREATOR];
  };
  range(BlockOffset.firstText, BlockOffset.lastText, 'LO', 'KidneyVolText');
  range(BlockOffset.firstVolume, BlockOffset.lastVolume, 'FD', 'KidneyVolMl');
  range(BlockOffset.digest, BlockOffset.digest, 'LO', 'KidneyVolDigest');
  range(BlockOffset.sourceSeries, BlockOffset.sourceSeries, 'UI', 'KidneyVolSourceSeries');
  range(BlockOffset.firstEstimate, BlockOffset.lastEstimate, 'LO', 'KidneyVolEstimate');
  range(BlockOffset.firstDiameters, BlockOffset.lastDiameters, 'FD', 'KidneyVolDiameters', 3);
  return entries;
}

/** Orthanc's "gggg,eeee" key for a tag number. */
function key(tag: number): string {
  return formatTag(tag).replace(/[()]/g, '');
}

/** The Replace map that writes our block in `slot` (the creator first), as Orthanc's modify takes it. */
function blockReplace(slot: number, content: KidneyBlockContent): Record<string, string> {
  const replace: Record<string, string> = { [`${PRIVATE_GROUP.toString(16).padStart(4, '0')},00${slot.toString(16)}`]: KIDNEY_CREATOR };
  content.lines.forEach((line, i) => (replace[key(blockTag(slot, BlockOffset.firstText + i))] = line));
  content.volumesMl.forEach((v, i) => (replace[key(blockTag(slot, BlockOffset.firstVolume + i))] = String(v)));
  replace[key(blockTag(slot, BlockOffset.digest))] = content.digest;
  replace[key(blockTag(slot, BlockOffset.sourceSeries))] = content.sourceSeriesInstanceUid;
  return replace;
}

/** A small REST client for what OrthancClient does not offer (modify, jobs). */
function rest(orthanc: TestOrthanc): { requests: number; call: <T>(method: string, path: string, body?: unknown) => Promise<T>; bytes: (path: string) => Promise<Buffer> } {
  const auth = `Basic ${Buffer.from(`${orthanc.username}:${orthanc.password}`).toString('base64')}`;
  const state = {
    requests: 0,
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      state.requests++;
      const response = await fetch(`${orthanc.url}${path}`, { method, headers: { authorization: auth }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 400)}`);
      return JSON.parse(text) as T;
    },
    async bytes(path: string): Promise<Buffer> {
      state.requests++;
      const response = await fetch(`${orthanc.url}${path}`, { headers: { authorization: auth } });
      if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
      return Buffer.from(await response.arrayBuffer());
    },
  };
  return state;
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Writes dirty pages to disk before a timed phase: the ingest leaves ~0.5 MB per image in the page
 * cache, and its write-back would otherwise be charged to whichever phase runs next.
 */
function settle(): void {
  execFileSync('sync');
}

interface Job {
  State: string;
  ErrorDescription?: string;
  Content?: { ID?: string };
}

async function main(): Promise<void> {
  // The test helper reads orthanc/orthanc.json relative to its own compiled location (dist/bench/test/helpers).
  mkdirSync(dirname(ORTHANC_CONFIG), { recursive: true });
  if (ORTHANC_CONFIG !== join(process.cwd(), 'orthanc', 'orthanc.json')) copyFileSync(join(process.cwd(), 'orthanc', 'orthanc.json'), ORTHANC_CONFIG);
  const folder = mkdtempSync(join(tmpdir(), 'kv-bench-'));
  const orthanc = await startOrthanc({ ...(values['without-dictionary'] ? {} : { Dictionary: blockDictionary() }), JobsEngineThreadsCount: { ResourceModification: threads } });
  const api = rest(orthanc);
  try {
    const measurements = buildSet([
      { name: 'Right Kidney', value: '125', unit: 'ml' },
      { name: 'Left Kidney', value: '132', unit: 'ml' },
    ]);
    console.log(`Orthanc ${orthanc.system.Version} (API ${orthanc.system.ApiVersion}), ResourceModification threads ${threads}`);
    const results = new Map<string, { wall: number; cpu: number }[]>();
    for (let run = 1; run <= runs; run++) {
      // Each run ingests a new study and times the variants against that ingest, so load that
      // drifts during the benchmark (other processes on the machine) hits both sides of a ratio.
      const runFolder = join(folder, String(run));
      mkdirSync(runFolder);
      const paths = writeCtSeries(runFolder, images);
      settle();
      const cpuBefore = cpuSeconds(orthanc.pid);
      const ingestStart = performance.now();
      const uploads = await mapLimit(paths, concurrency, async (path) => orthanc.client.upload(readFileSync(path)));
      const floorMs = performance.now() - ingestStart;
      const ingestCpu = cpuSeconds(orthanc.pid) - cpuBefore;
      const seriesId = uploads[0]?.ParentSeries ?? '';
      const source = await api.call<{ MainDicomTags: Record<string, string> }>('GET', `/series/${seriesId}`);
      const sourceSeriesUid = source.MainDicomTags['SeriesInstanceUID'] ?? '';
      const content = blockContent(measurements, sourceSeriesUid);
      console.log(
        `run ${run} ingest (floor)            ${(floorMs / 1000).toFixed(2)} s  ${images} x 512x512 CT (${((images * statSync(paths[0] as string).size) / 1e6).toFixed(0)} MB), ` +
          `concurrency ${concurrency}, Orthanc CPU ${ingestCpu.toFixed(2)} s`,
      );

      // The body the private pass would send: a new deterministic series UID (hence Force), the
      // series-level attributes our own copy changes, and the block. SourceImageSequence cannot be
      // set this way: it differs per image, and Replace gives every image the same value.
      const body = (variant: string): Record<string, unknown> => ({
        Replace: {
          SeriesInstanceUID: stableUid(undefined, 'bench-modify', sourceSeriesUid, variant),
          SeriesNumber: '1001',
          SeriesDescription: 'Bench CT + kidney volumes',
          DerivationDescription: `Copy of series ${sourceSeriesUid} with kidney volumes in private block ${KIDNEY_CREATOR} (group 0011); pixel data and other attributes unchanged`,
          ...blockReplace(0x10, content),
        },
        PrivateCreator: KIDNEY_CREATOR,
        Force: true,
      });
      const variants: Record<string, () => Promise<string>> = {
        'series/modify': async () => (await api.call<{ ID: string }>('POST', `/series/${seriesId}/modify`, body('sync'))).ID,
        'series/modify async job': async () => {
          const job = await api.call<{ ID: string }>('POST', `/series/${seriesId}/modify`, { ...body('async'), Asynchronous: true });
          for (;;) {
            const state = await api.call<Job>('GET', `/jobs/${job.ID}`);
            if (state.State === 'Success') return state.Content?.ID ?? '';
            if (state.State === 'Failure') throw new Error(`job ${job.ID} failed: ${state.ErrorDescription ?? ''}`);
            await new Promise((r) => setTimeout(r, 50));
          }
        },
        'tools/bulk-modify': async () => {
          const made = await api.call<{ Resources: { ID: string; Type: string }[] }>('POST', '/tools/bulk-modify', { ...body('bulk'), Resources: [seriesId], Level: 'Series' });
          return made.Resources.find((r) => r.Type === 'Series')?.ID ?? '';
        },
      };
      // Rotated each run, so no variant always runs first (right after the ingest) or last.
      const chosen = Object.entries(variants).filter(([name]) => values.variants === '' || values.variants.split(',').includes(name));
      if (chosen.length === 0) throw new Error(`--variants names none of: ${Object.keys(variants).join(', ')}`);
      const order = chosen.map((_, i, all) => all[(i + run - 1) % all.length] as [string, () => Promise<string>]);
      for (const [name, make] of order) {
        settle();
        const requestsBefore = api.requests;
        const cpu0 = cpuSeconds(orthanc.pid);
        const own0 = process.cpuUsage();
        const start = performance.now();
        const derivedId = await make();
        const ms = performance.now() - start;
        const orthancCpu = cpuSeconds(orthanc.pid) - cpu0;
        const ownCpu = process.cpuUsage(own0);
        const requests = api.requests - requestsBefore;
        await check(api, derivedId, content);
        results.set(name, [...(results.get(name) ?? []), { wall: ms / floorMs, cpu: orthancCpu / ingestCpu }]);
        console.log(
          `run ${run} ${name.padEnd(24)} ${(ms / 1000).toFixed(2)} s  ratio ${(ms / floorMs).toFixed(2)}  Orthanc CPU ${orthancCpu.toFixed(2)} s (${(orthancCpu / ingestCpu).toFixed(2)}x ingest's)  ` +
            `bench CPU ${((ownCpu.user + ownCpu.system) / 1e6).toFixed(3)} s  requests ${requests}`,
        );
      }
      await api.call<unknown>('DELETE', `/studies/${uploads[0]?.ParentStudy ?? ''}`);
      rmSync(runFolder, { recursive: true, force: true });
    }
    const spread = (values: number[]): string => {
      const sorted = [...values].sort((a, b) => a - b);
      const at = (i: number): string => (sorted[i] ?? Number.NaN).toFixed(2);
      return `${at(0)} / ${at(Math.floor(sorted.length / 2))} / ${at(sorted.length - 1)}`;
    };
    for (const [name, ratios] of results) {
      console.log(
        `${name.padEnd(24)} over ${ratios.length} runs, min/median/max: time ratio to ingest ${spread(ratios.map((r) => r.wall))} (target for the whole pass: 1.15); ` +
          `Orthanc CPU ratio ${spread(ratios.map((r) => r.cpu))}`,
      );
    }
  } finally {
    await orthanc.stop();
    rmSync(folder, { recursive: true, force: true });
  }
}

/** The derived series holds every image, and one copy carries our block with explicit VRs. */
async function check(api: ReturnType<typeof rest>, derivedId: string, content: KidneyBlockContent): Promise<void> {
  const series = await api.call<{ Instances: string[] }>('GET', `/series/${derivedId}`);
  if (series.Instances.length !== images) throw new Error(`derived series ${derivedId} holds ${series.Instances.length} of ${images} images`);
  const bytes = await api.bytes(`/instances/${series.Instances[0] ?? ''}/file`);
  const block = readKidneyBlock(bytes);
  if (!block || block.slot !== 0x10 || block.lines.join('|') !== content.lines.join('|') || block.volumesMl.join('|') !== content.volumesMl.join('|')) {
    throw new Error(`derived image lacks our block or it differs: ${JSON.stringify(block)}`);
  }
  const file = parsePart10(bytes);
  const wrong = file.elements.filter((e) => e.tag >>> 16 === PRIVATE_GROUP && e.vr === 'UN');
  if (wrong.length > 0) throw new Error(`derived image has group 0011 elements with VR UN: ${wrong.map((e) => formatTag(e.tag)).join(', ')}`);
}

await main();
