// The study index against a real Orthanc: filled from Orthanc's study list on a first start or after
// corruption, then kept in step through the changes log whoever writes the marks and statuses.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IndexFeed } from '../../src/index/feed.js';
import { INDEX_FILE, StudyIndex } from '../../src/index/store.js';
import { createLogger } from '../../src/log.js';
import { parseMeasurementsJson } from '../../src/measurements/parse.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import type { StudyStatus } from '../../src/status/status.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { waitFor } from '../helpers/sidecar-process.js';

const MARK = JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });
const log = createLogger('silent');

let dir: string;
const orthanc = useOrthanc();
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kv-index-feed-'));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

function follow(): { index: StudyIndex; feed: IndexFeed; stop: () => Promise<void> } {
  const index = StudyIndex.open(dir);
  const feed = new IndexFeed({ client: orthanc.client, index, log, pollIntervalMs: 100, deletedCheckMs: 300, now: () => new Date() });
  feed.start();
  return { index, feed, stop: async () => (await feed.stop(), index.close()) };
}

function doneStatus(at: string, owner: string): StudyStatus {
  return { state: 'done', digest: parseMeasurementsJson(MARK).digest, measurements: [], attempts: 1, createdAt: at, updatedAt: at, finishedAt: at, owner };
}

describe('the study index fed from Orthanc', () => {
  it('fills itself from the studies already in Orthanc, listing only those with our marks', async () => {
    const marked = await uploadStudy(orthanc.client, ctStudy(1, { name: 'Marked^Before', id: 'PID-MB' }));
    await uploadStudy(orthanc.client, ctStudy(1, { name: 'Never^Marked', id: 'PID-NM' }));
    await orthanc.client.setStudyMetadata(marked.orthancId, METADATA.pending, MARK);
    const { index, feed, stop } = follow();
    try {
      expect(index.openedAs).toBe('created');
      await waitFor(() => index.cursor !== undefined, 20_000, 'the first fill');
      const rows = index.list({}).rows;
      expect(rows.map((r) => [r.patientName, r.patientId, r.state, r.accession, r.studyDate, r.modalities])).toEqual([['Marked Before', 'PID-MB', 'queued', 'ACC123', '20240115', 'CT']]);
      expect(feed.state.rebuild).toBeUndefined();

      // Another replica finishes it: the index sees its status through the changes log.
      await orthanc.client.setStudyMetadata(marked.orthancId, METADATA.status, JSON.stringify(doneStatus('2025-03-01T10:00:00.000Z', 'replica-b')));
      await waitFor(() => index.get(marked.orthancId)?.state === 'done', 10_000, 'the done status in the index');
      expect(index.replicas().map((r) => r.name)).toEqual(['replica-b']);

      // A study marked after the fill comes in through the feed.
      const later = await uploadStudy(orthanc.client, ctStudy(1, { name: 'Marked^Later', id: 'PID-ML' }));
      await orthanc.client.setStudyMetadata(later.orthancId, METADATA.pending, '{"Right Kidney": "-4 ml"}');
      await waitFor(() => index.get(later.orthancId)?.state === 'queued', 10_000, 'the later mark in the index');

      // Deleted in Orthanc (whose changes log then forgets the study): the row stays, as deleted.
      const response = await fetch(`${orthanc.url}/studies/${marked.orthancId}`, { method: 'DELETE', headers: { authorization: `Basic ${Buffer.from(`${orthanc.username}:${orthanc.password}`).toString('base64')}` } });
      expect(response.ok).toBe(true);
      await waitFor(() => index.get(marked.orthancId)?.state === 'deleted', 10_000, 'the deletion in the index');
      expect(index.list({ search: 'pid-mb' }).rows.map((r) => r.state)).toEqual(['deleted']);
    } finally {
      await stop();
    }
  });

  it('picks up where it stopped, and rebuilds a corrupt index file from Orthanc', async () => {
    const reopened = follow();
    expect(reopened.index.openedAs).toBe('existing');
    expect(reopened.index.list({}).total).toBe(2);
    await reopened.stop();

    writeFileSync(join(dir, INDEX_FILE), Buffer.alloc(8192, 0x5a));
    const { index, stop } = follow();
    try {
      expect(index.openedAs).toBe('replaced-corrupt');
      await waitFor(() => index.cursor !== undefined, 20_000, 'the rebuild');
      // The deleted study is gone from Orthanc, so a rebuild cannot know it; the marked one is back.
      expect(index.list({}).rows.map((r) => [r.patientName, r.state])).toEqual([['Marked Later', 'queued']]);
    } finally {
      await stop();
    }
  });
});
