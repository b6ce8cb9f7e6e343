// Which metadata writes make Orthanc's Lua script wake the sidecar (issue 17): a mark, a retry
// request and a removed status do; the sidecar's own writes (its status, the FHIR Bundle) do not,
// since each cost a read of the feed and a check of the study, and in a burst held new marks'
// wake-ups back behind them. A counting HTTP server stands in for the sidecar's hook, so each
// write's wake-ups are counted exactly; the Orthanc and the script are the real ones.
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA } from '../../src/orthanc/metadata.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { freePort } from '../helpers/orthanc.js';
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

const orthancLog = (): string => readFileSync(join(orthanc.folder, 'orthanc.log'), 'utf8').split('\n').slice(-30).join('\n');

/**
 * Wake-ups caused by one write: Orthanc runs its Lua callbacks one at a time, in the order of the
 * changes, so once a marker write's wake-up has arrived every earlier write's has too. The marker
 * is a new mark on a study of its own, which always wakes.
 */
async function wakesOf(write: () => Promise<void>): Promise<number> {
  const marker = await uploadStudy(orthanc.client, ctStudy(1));
  const before = wakes;
  await write();
  await orthanc.client.setStudyMetadata(marker.orthancId, METADATA.pending, MARK);
  const deadline = Date.now() + 10_000;
  while (wakes === before) {
    if (Date.now() > deadline) throw new Error(`the marker's wake-up never came; Orthanc's log:\n${orthancLog()}`);
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
