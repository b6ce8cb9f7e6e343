// Issue 12, items 9, 11, 12 and 13, each through the real sidecar process and a real Orthanc:
// a permanent fault fails at the first attempt, a study that kills the process is failed after
// KV_MAX_ATTEMPTS claims, a slow study does not hold up the others, and a study deleted before
// its first read does not stop the feed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { METADATA } from '../../src/orthanc/metadata.js';
import type { StudyEvent } from '../../src/sidecar/events.js';
import { parseStatus, type StudyStatus } from '../../src/status/status.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, waitFor, type RunningSidecar } from '../helpers/sidecar-process.js';
import { waitForState } from './harness.js';

const orthanc = useOrthanc();

const VOLUMES = JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });

function env(extra: Record<string, string> = {}): Record<string, string> {
  return { ...orthanc.env, KV_POLL_INTERVAL_MS: '200', KV_RETRY_BASE_MS: '200', KV_REPLICA_ID: 'trust-sidecar', KV_LOG_LEVEL: 'info', ...extra };
}

async function statusOf(studyId: string): Promise<StudyStatus | undefined> {
  const revision = await orthanc.client.studyMetadata(studyId, METADATA.status);
  return revision ? parseStatus(revision.value) : undefined;
}

/** The sidecar's JSON log lines. */
function logLines(sidecar: RunningSidecar): Record<string, unknown>[] {
  return sidecar
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The change that announced a study's mark (UpdatedMetadata after `since`). */
async function markSeq(studyId: string, since: number): Promise<number> {
  const page = await orthanc.client.changes(since, 1000);
  const change = page.Changes.find((c) => c.ID === studyId && c.ChangeType === 'UpdatedMetadata');
  if (!change) throw new Error(`no UpdatedMetadata for ${studyId} after ${since}`);
  return change.Seq;
}

const savedCursor = (sidecar: RunningSidecar): number => (JSON.parse(readFileSync(join(sidecar.stateDir, 'cursor.json'), 'utf8')) as { seq: number }).seq;

describe('item 9: a permanent fault fails at the first attempt with its real message', () => {
  it('a StudyTime that is not a DICOM TM fails the study once, naming it, without "gave up after"', async () => {
    const study = await uploadStudy(orthanc.client, { ...ctStudy(1), studyTime: '2930' });
    const sidecar = await runSidecar({ env: env({ KV_MAX_ATTEMPTS: '5' }) });
    try {
      await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, VOLUMES);
      const failed = await waitForState(orthanc.client, study.orthancId, ['failed', 'done'], 60_000);
      expect(failed.state).toBe('failed');
      expect(failed.attempts).toBe(1);
      expect(failed.error).toContain('2930');
      expect(failed.error).not.toMatch(/gave up/);
      // Nothing is scheduled: a while later it is still the one and only attempt.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await statusOf(study.orthancId))?.attempts).toBe(1);
      const lines = logLines(sidecar).filter((l) => l['studyId'] === study.orthancId);
      expect(lines.filter((l) => l['event'] === 'claimed')).toHaveLength(1);
      expect(lines.filter((l) => l['event'] === 'retrying')).toHaveLength(0);
      const failure = lines.find((l) => l['event'] === 'failed');
      expect(failure?.['failure']).toBe('permanent');
      // Logged as a pino err object, with its stack.
      expect((failure?.['err'] as { stack?: string } | undefined)?.stack).toMatch(/at /);
    } finally {
      await sidecar.stop();
    }
  }, 120_000);
});

describe('item 11: a study that crashes the process is failed after KV_MAX_ATTEMPTS claims', () => {
  it('killed twice while holding the study, the third start fails it saying it crashed the process 2 times', async () => {
    const images = 60;
    const study = await uploadStudy(orthanc.client, { ...ctStudy(images), series: [{ modality: 'CT', images, rows: 256, columns: 256 }] });
    const stateEnv = env({ KV_MAX_ATTEMPTS: '2' });
    let stateDir: string | undefined;
    for (const attempt of [1, 2]) {
      const sidecar = await runSidecar({ env: stateEnv, ...(stateDir !== undefined ? { stateDir } : {}) });
      stateDir = sidecar.stateDir;
      if (attempt === 1) await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, VOLUMES);
      await waitFor(async () => {
        const s = await statusOf(study.orthancId);
        return s?.state === 'processing' && s.attempts === attempt;
      }, 60_000, `claim ${attempt}`);
      await sidecar.kill9();
      // The kill landed while the study was held: the claim is there, unfinished.
      const atKill = await statusOf(study.orthancId);
      expect(atKill?.state).toBe('processing');
      expect(atKill?.attempts).toBe(attempt);
    }
    const third = await runSidecar({ env: stateEnv, ...(stateDir !== undefined ? { stateDir } : {}) });
    try {
      const failed = await waitForState(orthanc.client, study.orthancId, ['failed', 'done'], 60_000);
      expect(failed.state).toBe('failed');
      expect(failed.error).toMatch(/crashed the process 2 times/);
      expect(failed.crashes).toBe(2);
      expect(failed.attempts).toBe(2);
      expect(failed.owner).toBeUndefined();
      // Not claimed a third time: no claim in this process's log, and it stays failed.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await statusOf(study.orthancId))?.state).toBe('failed');
      const lines = logLines(third).filter((l) => l['studyId'] === study.orthancId);
      expect(lines.filter((l) => l['event'] === 'claimed' || l['event'] === 'took-over')).toHaveLength(0);
      expect(lines.some((l) => l['event'] === 'poison')).toBe(true);
    } finally {
      await third.stop();
    }
  }, 300_000);
});

describe('item 12: no head-of-line blocking', () => {
  it('with concurrency 3, studies marked while a slow one is processed are done before it, and the cursor waits for it', async () => {
    const slow = await uploadStudy(orthanc.client, { ...ctStudy(300), series: [{ modality: 'CT', images: 300, rows: 64, columns: 64 }] });
    const quick = [];
    for (let i = 0; i < 4; i++) quick.push(await uploadStudy(orthanc.client, ctStudy(1)));
    const sidecar = await runSidecar({ env: env({ KV_CONCURRENCY: '3' }) });
    try {
      const before = await orthanc.client.lastChangeSeq();
      await orthanc.client.setStudyMetadata(slow.orthancId, METADATA.pending, VOLUMES);
      const slowSeq = await markSeq(slow.orthancId, before);
      await waitFor(async () => (await statusOf(slow.orthancId))?.state === 'processing', 60_000, 'the slow study claimed');
      // Marked after the feed page with the slow study was read and handed to a worker.
      for (const q of quick) await orthanc.client.setStudyMetadata(q.orthancId, METADATA.pending, VOLUMES);
      const quickDone: StudyStatus[] = [];
      for (const q of quick) quickDone.push(await waitForState(orthanc.client, q.orthancId, ['done', 'failed'], 120_000));
      // The moment the last quick study is done, the slow one is still in hand, and the saved
      // cursor has not passed the change that announced it.
      const slowNow = await statusOf(slow.orthancId);
      expect(slowNow?.state).toBe('processing');
      expect(savedCursor(sidecar)).toBeLessThan(slowSeq);
      const slowDone = await waitForState(orthanc.client, slow.orthancId, ['done', 'failed'], 180_000);
      expect(slowDone.state).toBe('done');
      for (const q of quickDone) {
        expect(q.state).toBe('done');
        expect(Date.parse(q.finishedAt ?? '')).toBeLessThan(Date.parse(slowDone.finishedAt ?? ''));
      }
      // Once nothing is in hand, the cursor moves past everything read.
      await waitFor(() => savedCursor(sidecar) >= slowSeq, 10_000, 'the cursor past the slow study');
    } finally {
      await sidecar.stop();
    }
  }, 400_000);
});

describe('item 13: one study deleted before its first read does not stop the others', () => {
  it('a deleted study is logged as gone, the loop never backs off, and the next study is done', async () => {
    const ahead = await uploadStudy(orthanc.client, { ...ctStudy(80), series: [{ modality: 'CT', images: 80, rows: 128, columns: 128 }] });
    const doomed = await uploadStudy(orthanc.client, ctStudy(1));
    const after = await uploadStudy(orthanc.client, ctStudy(1));
    const sidecar = await runSidecar({ env: env({ KV_CONCURRENCY: '1', KV_HOOK_TOKEN: 'trust-hook' }) });
    try {
      await orthanc.client.setStudyMetadata(ahead.orthancId, METADATA.pending, VOLUMES);
      await waitFor(async () => (await statusOf(ahead.orthancId))?.state === 'processing', 60_000, 'the first study claimed');
      // The sidecar's events say when the feed has queued the doomed study itself. (The queue length
      // alone did not: the first study's own claim comes back through the feed and waits in the
      // queue while it is in hand, so the length was 1 before the doomed mark was read, the study
      // was deleted with its change rows unread, and the sidecar never heard of it.)
      const events: StudyEvent[] = [];
      const socket = new WebSocket(`${sidecar.url.replace(/^http/, 'ws')}/events`, { headers: sidecar.auth });
      socket.on('message', (data: Buffer) => events.push(JSON.parse(data.toString()) as StudyEvent));
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      try {
        await orthanc.client.setStudyMetadata(doomed.orthancId, METADATA.pending, VOLUMES);
        // The feed has read the mark and the study waits behind the one in hand (one worker)...
        await waitFor(() => events.some((e) => e.studyId === doomed.orthancId && e.kind === 'queued'), 30_000, 'the doomed study queued');
      } finally {
        socket.terminate();
      }
      expect((await statusOf(ahead.orthancId))?.state).toBe('processing');
      // ...when it is deleted. Orthanc also deletes its change rows, so only the queue knows it.
      const deleted = await fetch(`${orthanc.url}/studies/${doomed.orthancId}`, {
        method: 'DELETE',
        headers: { authorization: `Basic ${Buffer.from(`${orthanc.username}:${orthanc.password}`).toString('base64')}` },
      });
      expect(deleted.status).toBe(200);
      // The Lua callback path too: a wake-up for a study that no longer exists.
      expect((await fetch(`${sidecar.url}/hooks/orthanc`, { method: 'POST', headers: { 'x-kv-hook-token': 'trust-hook' }, body: doomed.orthancId })).status).toBe(204);
      const before = await orthanc.client.lastChangeSeq();
      await orthanc.client.setStudyMetadata(after.orthancId, METADATA.pending, VOLUMES);
      const afterSeq = await markSeq(after.orthancId, before);

      expect((await waitForState(orthanc.client, ahead.orthancId, ['done', 'failed'], 120_000)).state).toBe('done');
      expect((await waitForState(orthanc.client, after.orthancId, ['done', 'failed'], 60_000)).state).toBe('done');
      await waitFor(() => savedCursor(sidecar) >= afterSeq, 10_000, 'the cursor saved past the next study');
      const lines = logLines(sidecar);
      // The deleted study was logged as gone, never as a failure, and nothing brought it back.
      const aboutDoomed = lines.filter((l) => l['studyId'] === doomed.orthancId).map((l) => l['event']);
      expect(aboutDoomed).toEqual(['gone']);
      expect((await fetch(`${orthanc.url}/studies/${doomed.orthancId}`, { headers: { authorization: `Basic ${Buffer.from(`${orthanc.username}:${orthanc.password}`).toString('base64')}` } })).status).toBe(404);
      expect(lines.filter((l) => l['event'] === 'loop-error' || l['event'] === 'check-error')).toEqual([]);
    } finally {
      await sidecar.stop();
    }
  }, 300_000);
});
