// What the study index reads of Orthanc, and when (issue 17), against a real Orthanc (StableAge 1 s)
// behind a counting proxy: a status write on a listed study costs one metadata read (so does the
// page's refresh of its row), and the study's own fields (patient, modalities) follow its instances
// once Orthanc logs StableStudy: a new series, a patient name changed with /modify keeping the
// StudyInstanceUID, a study deleted and sent again. An idle sidecar's index reads the log once a second, its feed at KV_POLL_INTERVAL_MS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IndexFeed } from '../../src/index/feed.js';
import { StudyIndex } from '../../src/index/store.js';
import { createLogger } from '../../src/log.js';
import { parseMeasurementsJson } from '../../src/measurements/parse.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import type { StudyStatus } from '../../src/status/status.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { clientThrough, startGateProxy, type GateProxy } from '../helpers/gate-proxy.js';
import { runSidecar, waitFor } from '../helpers/sidecar-process.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

const MARK = JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });
const log = createLogger('silent');

const orthanc = useOrthanc({ StableAge: 1 });
let proxy: GateProxy;
/** Every request the index made through the proxy, as "METHOD path". */
const requests: string[] = [];
let index: StudyIndex;
let feed: IndexFeed;

beforeAll(async () => {
  proxy = await startGateProxy(orthanc.url);
  // A hold that never holds: its matcher sees every request.
  proxy.hold((r) => (requests.push(`${r.method} ${r.path}`), false));
  index = StudyIndex.inMemory();
  feed = new IndexFeed({ client: clientThrough(proxy, orthanc), index, log, pollIntervalMs: 100, deletedCheckMs: 3_600_000, now: () => new Date() });
  feed.start();
  await waitFor(() => index.cursor !== undefined, 20_000, 'the first fill');
}, 60_000);
afterAll(async () => {
  await feed?.stop();
  index?.close();
  await proxy?.close();
});

function authorization(): string {
  return `Basic ${Buffer.from(`${orthanc.username}:${orthanc.password}`).toString('base64')}`;
}

/** The index's requests about one study (the log's pages and the study list left out). */
function readsOf(studyId: string): string[] {
  return requests.filter((r) => r.includes(studyId));
}

/** Waits until the study is stable in Orthanc and the index has taken in the whole log up to now. */
async function settled(studyId: string): Promise<void> {
  await waitFor(async () => ((await (await fetch(`${orthanc.url}/studies/${studyId}`, { headers: { authorization: authorization() } })).json()) as { IsStable: boolean }).IsStable, 20_000, 'a stable study');
  const head = await orthanc.client.lastChangeSeq();
  await waitFor(() => (index.cursor ?? 0) >= head, 10_000, "the index at the log's head");
}

/** A marked study, listed and settled, with the requests counted from now on. */
async function listed(name: string, id: string): Promise<{ orthancId: string; studyInstanceUid: string }> {
  const study = await uploadStudy(orthanc.client, ctStudy(1, { name, id }));
  await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, MARK);
  await waitFor(() => index.get(study.orthancId)?.state === 'queued', 10_000, 'the mark in the index');
  await settled(study.orthancId);
  requests.length = 0;
  return study;
}

function doneStatus(at: string): StudyStatus {
  return { state: 'done', digest: parseMeasurementsJson(MARK).digest, measurements: [], attempts: 1, createdAt: at, updatedAt: at, finishedAt: at, owner: 'replica-b' };
}

describe("the study index's reads", () => {
  it('reads only the metadata of a listed study when its status is written', async () => {
    const study = await listed('Status^Only', 'PID-SO');
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.status, JSON.stringify(doneStatus('2025-03-01T10:00:00.000Z')));
    await waitFor(() => index.get(study.orthancId)?.state === 'done', 10_000, 'the done status in the index');
    await settled(study.orthancId);
    expect(readsOf(study.orthancId)).toEqual([`GET /studies/${study.orthancId}/metadata?expand=`]);
    const row = index.get(study.orthancId);
    expect([row?.patientName, row?.patientId, row?.modalities, row?.owner, row?.finishedAt]).toEqual(['Status Only', 'PID-SO', 'CT', 'replica-b', '2025-03-01T10:00:00.000Z']);
    expect(index.replicas().map((r) => r.name)).toContain('replica-b');
    // Of the same measurements' mark times the earliest stays: the status' createdAt, before the index saw the mark.
    expect(row?.markedAt).toBe('2025-03-01T10:00:00.000Z');
  });

  it("reads only the metadata of a listed study when the page asks for its row", async () => {
    const study = await listed('Row^Asked', 'PID-RA');
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.status, JSON.stringify(doneStatus('2025-03-02T10:00:00.000Z')));
    const row = await feed.refresh(study.orthancId);
    expect([row?.state, row?.patientName, row?.modalities]).toEqual(['done', 'Row Asked', 'CT']);
    await settled(study.orthancId);
    // The feed's own read of the status write may come too: a metadata read as well.
    expect(new Set(readsOf(study.orthancId))).toEqual(new Set([`GET /studies/${study.orthancId}/metadata?expand=`]));
  });

  it("shows a new series' modality once the study is stable, reading the study and its series but not its metadata", async () => {
    const study = await listed('New^Series', 'PID-NS');
    await uploadStudy(orthanc.client, { ...ctStudy(1, { name: 'New^Series', id: 'PID-NS' }), studyInstanceUid: study.studyInstanceUid, series: [{ modality: 'MR', images: 1 }] });
    await waitFor(() => index.get(study.orthancId)?.modalities === 'CT\\MR', 15_000, 'the MR series in the index');
    await settled(study.orthancId);
    expect(readsOf(study.orthancId).sort()).toEqual([`GET /studies/${study.orthancId}`, `GET /studies/${study.orthancId}/series`]);
    expect(index.get(study.orthancId)?.state).toBe('queued');
  });

  it('shows a patient name changed by /modify keeping the StudyInstanceUID, and finds the study by it', async () => {
    const study = await listed('Old^Name', 'PID-MOD');
    const headers = { authorization: authorization() };
    // New SOP and series UIDs in the same study (the same Orthanc ID), the originals deleted, and
    // the study's main tags taken again from its instances (Orthanc keeps the first ones otherwise).
    const modify = await fetch(`${orthanc.url}/studies/${study.orthancId}/modify`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ Replace: { PatientName: 'New^Name' }, Keep: ['StudyInstanceUID'], Force: true, KeepSource: false }),
    });
    expect(modify.status).toBe(200);
    expect((await fetch(`${orthanc.url}/studies/${study.orthancId}/reconstruct`, { method: 'POST', headers, body: '' })).status).toBe(200);
    await waitFor(() => index.get(study.orthancId)?.patientName === 'New Name', 15_000, 'the new patient name in the index');
    expect(index.list({ search: 'new name' }).rows.map((r) => r.studyId)).toEqual([study.orthancId]);
    expect(index.list({ search: 'old name' }).rows).toEqual([]);
    expect(index.get(study.orthancId)?.state).toBe('queued');
  });

  it('reads a listed study again when it is deleted and sent again (its marks went with it)', async () => {
    const study = await listed('Sent^Twice', 'PID-ST');
    expect((await fetch(`${orthanc.url}/studies/${study.orthancId}`, { method: 'DELETE', headers: { authorization: authorization() } })).ok).toBe(true);
    const again = await uploadStudy(orthanc.client, { ...ctStudy(1, { name: 'Sent^Twice', id: 'PID-ST' }), studyInstanceUid: study.studyInstanceUid });
    expect(again.orthancId).toBe(study.orthancId);
    await waitFor(() => index.get(study.orthancId) === undefined, 10_000, 'the unmarked study gone from the index');
  });
});

describe('an idle sidecar', () => {
  it("reads the log for its index once a second, and for its feed every KV_POLL_INTERVAL_MS", async () => {
    const polls: string[] = [];
    const counting = await startGateProxy(orthanc.url);
    counting.hold((r) => (r.path.startsWith('/changes?') && polls.push(r.path), false));
    const sidecar = await runSidecar({ env: { ...orthanc.env, ORTHANC_URL: counting.url, KV_POLL_INTERVAL_MS: '250', KV_LOG_LEVEL: 'warn', KV_APPROACHES: 'sr' } });
    try {
      // Past the start (the index's first fill, the feed's first pages): count four idle seconds.
      await new Promise((r) => setTimeout(r, 2000));
      polls.length = 0;
      await new Promise((r) => setTimeout(r, 4000));
      const index = polls.filter((p) => p.includes('limit=1000')).length;
      const feed = polls.length - index;
      expect(index).toBeGreaterThanOrEqual(2);
      expect(index).toBeLessThanOrEqual(5);
      expect(feed).toBeGreaterThan(2 * index);
    } finally {
      await sidecar.stop();
      await counting.close();
    }
  }, 60_000);
});
