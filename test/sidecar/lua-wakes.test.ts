// Which metadata writes make Orthanc's Lua script wake the sidecar (issue 17): a mark, a retry
// request and a removed status do; the sidecar's own writes (its status, the FHIR Bundle) do not,
// since each cost a read of the feed and a check of the study, and in a burst held new marks'
// wake-ups back behind them. Which stable series do: a SEG and another system's SR (they carry no
// mark; the sidecar reads them at StableSeries), not our own SR series nor images, nor a marked study
// becoming stable again (the sidecar's next poll reads that StableStudy change). A counting HTTP
// server stands in for the sidecar's hook, so each write's wake-ups are counted exactly; the
// Orthanc, the script and the CLI that writes our SR are the real ones.
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA } from '../../src/orthanc/metadata.js';
import type { OrthancClient } from '../../src/orthanc/client.js';
import { pushDicomInput } from '../fixtures/dicom-input-studies.js';
import { buildStudy, ctStudy, uploadStudy } from '../fixtures/studies.js';
import { runCli } from '../helpers/cli.js';
import { freePort, type TestOrthanc } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

const HOOK_TOKEN = 'lua-wakes-token';
const SCRIPT = new URL('../../orthanc/kidney-volumes.lua', import.meta.url).pathname;
const MARK = JSON.stringify({ 'Right Kidney': '125 ml' });

let port: number;
let hook: Server;
let wakes = 0;
beforeAll(async () => {
  port = await freePort();
  hook = createServer((request, response) => {
    if (request.url === '/hooks/orthanc' && request.headers['x-kv-hook-token'] === HOOK_TOKEN) wakes++;
    request.resume();
    response.writeHead(204).end();
  });
  await new Promise<void>((resolve) => hook.listen(port, '127.0.0.1', resolve));
});
afterAll(async () => {
  await new Promise((resolve) => hook.close(resolve));
});
// StableAge of an hour: OnStableStudy cannot fire during the test, so every wake-up counted is a metadata write's.
const orthanc = useOrthanc({ LuaScripts: [SCRIPT], StableAge: 3600 }, () => ({ env: { KV_SIDECAR_URL: `http://127.0.0.1:${port}`, KV_HOOK_TOKEN: HOOK_TOKEN } }));

const orthancLog = (target: TestOrthanc = orthanc): string => readFileSync(join(target.folder, 'orthanc.log'), 'utf8').split('\n').slice(-30).join('\n');

/**
 * Wake-ups caused by one write: Orthanc runs its Lua callbacks one at a time, in the order of the
 * changes, so once a marker write's wake-up has arrived every earlier write's has too. The marker
 * is a new mark (always wakes): on a study of its own, or on the study given, with a value not used before.
 */
let markers = 0;
async function wakesOf(write: () => Promise<void>, target: TestOrthanc = orthanc, markerStudy?: string): Promise<number> {
  const marker = markerStudy ?? (await uploadStudy(target.client, ctStudy(1))).orthancId;
  const before = wakes;
  await write();
  await target.client.setStudyMetadata(marker, METADATA.pending, JSON.stringify({ 'Right Kidney': `${100 + ++markers} ml` }));
  const deadline = Date.now() + 10_000;
  while (wakes === before) {
    if (Date.now() > deadline) throw new Error(`the marker's wake-up never came; Orthanc's log:\n${orthancLog(target)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  // The marker's own wake-up is the last one counted.
  await new Promise((r) => setTimeout(r, 100));
  return wakes - before - 1;
}

/** A status as the sidecar writes it (only `state` matters to the script). */
function status(state: string): string {
  return JSON.stringify({ state, digest: 'a'.repeat(64), measurements: [], attempts: 1, createdAt: '2026-11-29T00:00:00Z', updatedAt: '2026-11-29T00:00:00Z' });
}

describe("Orthanc's Lua script wakes the sidecar", () => {
  it('for a new mark, and for a changed one, but not for the sidecar\'s own writes to a marked study', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const id = study.orthancId;
    expect(await wakesOf(() => orthanc.client.setStudyMetadata(id, METADATA.pending, MARK))).toBe(1);
    // The claim, the FHIR Bundle and the done status: what the sidecar writes for every study.
    expect(await wakesOf(() => orthanc.client.setStudyMetadata(id, METADATA.status, status('processing')))).toBe(0);
    expect(await wakesOf(() => orthanc.client.setStudyMetadata(id, METADATA.fhir, '{"resourceType":"Bundle"}'))).toBe(0);
    expect(await wakesOf(() => orthanc.client.setStudyMetadata(id, METADATA.status, status('done')))).toBe(0);
    // The same mark written again is no new work (the sidecar finds it done).
    expect(await wakesOf(() => orthanc.client.setStudyMetadata(id, METADATA.pending, MARK))).toBe(0);
    // Corrected values are.
    expect(await wakesOf(() => orthanc.client.setStudyMetadata(id, METADATA.pending, JSON.stringify({ 'Right Kidney': '126 ml' })))).toBe(1);
  });

  it('for a retry request (status "queued") and for a removed status, while the study is marked', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const id = study.orthancId;
    await wakesOf(() => orthanc.client.setStudyMetadata(id, METADATA.pending, MARK));
    await wakesOf(() => orthanc.client.setStudyMetadata(id, METADATA.status, status('failed')));
    expect(await wakesOf(() => orthanc.client.setStudyMetadata(id, METADATA.status, status('queued')))).toBe(1);
    expect(await wakesOf(() => orthanc.client.deleteStudyMetadata(id, METADATA.status))).toBe(1);
  });

  it('not for metadata of a study without a mark', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    expect(await wakesOf(() => orthanc.client.setStudyMetadata(study.orthancId, METADATA.status, status('queued')))).toBe(0);
  });
});

/** Waits until Orthanc holds the series and its study stable (both callbacks have been queued then). */
async function untilStable(client: OrthancClient, seriesId: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const series = await client.series(seriesId);
    if (series.IsStable === true && (await client.study(series.ParentStudy)).IsStable === true) return;
    if (Date.now() > deadline) throw new Error(`series ${seriesId} or its study not stable within 20 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("Orthanc's Lua script wakes the sidecar when a series becomes stable", () => {
  // StableAge of a second: OnStableSeries fires during the test (the script has no OnStableStudy).
  const stable = useOrthanc({ LuaScripts: [SCRIPT], StableAge: 1 }, () => ({ env: { KV_SIDECAR_URL: `http://127.0.0.1:${port}`, KV_HOOK_TOKEN: HOOK_TOKEN } }));
  // One marker study, stable before the first test (the script once woke the sidecar for a marked
  // study becoming stable; a fresh marker's would have landed in the next test's count).
  let marker: string;
  beforeAll(async () => {
    const study = await uploadStudy(stable.client, ctStudy(1));
    marker = study.orthancId;
    await untilStable(stable.client, (await stable.client.studySeries(marker))[0]!.ID);
  }, 30_000);

  it('for a SEG series and for another system\'s SR series (no mark arrives with them)', async () => {
    for (const kind of ['seg', 'vendor-sr'] as const) {
      const count = await wakesOf(async () => {
        const pushed = await pushDicomInput(stable.client, kind);
        await untilStable(stable.client, pushed.seriesId);
      }, stable, marker);
      expect(count, kind).toBe(1);
    }
  }, 60_000);

  it('not when a marked study grows and becomes stable again: the sidecar reads that StableStudy change at its next poll', async () => {
    const spec = ctStudy(1);
    const study = await uploadStudy(stable.client, spec);
    const seriesId = (await stable.client.studySeries(study.orthancId))[0]!.ID;
    await untilStable(stable.client, seriesId);
    expect(await wakesOf(() => stable.client.setStudyMetadata(study.orthancId, METADATA.pending, MARK), stable, marker)).toBe(1);
    // An image pushed late into the same series: the study is no longer stable, then stable again, marked.
    const late = buildStudy({ ...spec, studyInstanceUid: study.studyInstanceUid, series: [{ ...spec.series[0]!, images: 1, seriesInstanceUid: study.series[0]!.seriesInstanceUid, firstInstanceNumber: 2 }] });
    const grown = await wakesOf(async () => {
      expect((await stable.client.upload(late.files[0]!)).ParentStudy).toBe(study.orthancId);
      await untilStable(stable.client, seriesId);
    }, stable, marker);
    expect(grown).toBe(0);
    expect((await stable.client.studySeries(study.orthancId))[0]!.Instances).toHaveLength(2);
  }, 60_000);

  it('not for image series, nor for our own SR series (written by the real CLI)', async () => {
    const study = await uploadStudy(stable.client, ctStudy(2));
    const images = (await stable.client.studySeries(study.orthancId))[0]!.ID;
    expect(await wakesOf(() => untilStable(stable.client, images), stable, marker)).toBe(0);
    // attach also writes a mark and its study becomes stable again, marked: both wake, by design.
    // So the report is written into the other Orthanc (StableAge of an hour: its one wake-up is the
    // mark's, settled here) and the file brought over into a study without a mark.
    const elsewhere = await uploadStudy(orthanc.client, ctStudy(1));
    let report: Buffer | undefined;
    expect(
      await wakesOf(async () => {
        const run = await runCli(['attach', elsewhere.orthancId, '--approach', 'sr', '--right', '125', '--left', '132', '--json'], { ...orthanc.env, KV_TIMEZONE: 'UTC' });
        expect(run.code, run.stderr).toBe(0);
        const ours = (await orthanc.client.studySeries(elsewhere.orthancId)).filter((s) => s.MainDicomTags['Modality'] === 'SR');
        expect(ours.map((s) => [s.MainDicomTags['Manufacturer'], s.MainDicomTags['SeriesDescription']])).toEqual([['kidney-volumes', 'Kidney Volume Measurements']]);
        report = await orthanc.client.instanceFile(ours[0]!.Instances[0]!);
      }),
    ).toBe(1);
    const count = await wakesOf(async () => {
      if (!report) throw new Error("attach wrote no report");
      const answer = await stable.client.upload(report);
      await untilStable(stable.client, answer.ParentSeries);
    }, stable, marker);
    expect(count).toBe(0);
  }, 60_000);
});
