// The status writes of the SEG trigger (a note that a SEG came to a study a person measured) and of
// the sweep (a label request that cannot be answered) against a real Orthanc, counted through a
// proxy: a read of the status with its revision, one compare-and-set PUT, and no read of the new
// ETag afterwards (nothing writes over these statuses with it; issue 17). A write that lands between
// the read and the PUT still wins, and the trigger's or the sweep's PUT loses with 409, as before.
// A retry request (status.ts updateStatus) likewise, and it asks again from a fresh read after a 409.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { labelSettings } from '../../src/orthanc/labels.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import type { OrthancClient } from '../../src/orthanc/client.js';
import { DEFAULT_SEGMENTATION_SETTINGS } from '../../src/segmentation/settings.js';
import { SidecarEvents, type StudyEvent } from '../../src/sidecar/events.js';
import { onStableSeries } from '../../src/sidecar/segmentation-trigger.js';
import { Sweep } from '../../src/sidecar/sweep.js';
import { requestRetry } from '../../src/status/requeue.js';
import { parseStatus, type StudyStatus } from '../../src/status/status.js';
import { buildSeg, SMALL_KIDNEYS } from '../fixtures/seg.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { clientThrough, startGateProxy, type GateProxy, type ProxiedRequest } from '../helpers/gate-proxy.js';
import { orthanc112, type TestOrthanc } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';


/** A finished status as the processor leaves it; `note` makes two of them differ. */
function finished(state: 'done' | 'failed', note: string): StudyStatus {
  const at = new Date().toISOString();
  return { state, digest: 'e'.repeat(64), measurements: [], attempts: 1, createdAt: at, updatedAt: at, finishedAt: at, ...(state === 'failed' ? { error: note, errorKind: 'usage' } : { source: 'mark' }), version: 1 };
}

/** The requests for the study's status, as method (+ "if-match" when conditional). */
function statusRequests(proxy: GateProxy, studyId: string): string[] {
  const path = `/studies/${studyId}/metadata/${METADATA.status}`;
  return proxy.requests.filter((r: ProxiedRequest) => r.path === path).map((r) => (r.ifMatch !== undefined ? `${r.method} if-match` : r.method));
}

async function statusText(orthanc: TestOrthanc, studyId: string): Promise<string | undefined> {
  return (await orthanc.client.studyMetadata(studyId, METADATA.status))?.value;
}

const orthanc = useOrthanc();

describe('the SEG trigger\'s note on a finished status', () => {

  /** A study a person measured, done, with a SEG pushed into it afterwards: its SEG series. */
  async function measuredStudyWithSeg(): Promise<{ studyId: string; seriesId: string; sopInstanceUid: string }> {
    const spec = ctStudy(2);
    const study = await uploadStudy(orthanc.client, spec);
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify({ 'Right Kidney': '125 ml' }));
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.status, JSON.stringify(finished('done', 'first')));
    const seg = buildSeg(study, spec, SMALL_KIDNEYS);
    const stored = await orthanc.client.upload(seg.bytes);
    return { studyId: study.orthancId, seriesId: stored.ParentSeries, sopInstanceUid: seg.sopInstanceUid };
  }

  it('reads the status once and writes it once, over the revision it read', async () => {
    const { studyId, seriesId, sopInstanceUid } = await measuredStudyWithSeg();
    const proxy = await startGateProxy(orthanc.url);
    try {
      const outcome = await onStableSeries({ client: clientThrough(proxy, orthanc), log: createLogger('silent'), segmentation: DEFAULT_SEGMENTATION_SETTINGS }, seriesId);
      expect(outcome).toMatchObject({ kind: 'kept-existing', noted: true });
      expect(statusRequests(proxy, studyId)).toEqual(['GET', 'PUT if-match']);
      expect(parseStatus((await statusText(orthanc, studyId)) ?? '')).toMatchObject({ state: 'done', segmentation: { sopInstanceUid, applied: false } });
    } finally {
      await proxy.close();
    }
  });

  it('loses to a status written between its read and its write, and leaves that status alone', async () => {
    const { studyId, seriesId } = await measuredStudyWithSeg();
    const proxy = await startGateProxy(orthanc.url);
    try {
      const put = proxy.hold((r) => r.method === 'PUT' && r.path === `/studies/${studyId}/metadata/${METADATA.status}`);
      const noting = onStableSeries({ client: clientThrough(proxy, orthanc), log: createLogger('silent'), segmentation: DEFAULT_SEGMENTATION_SETTINGS }, seriesId);
      await put.arrived(1);
      const theirs = JSON.stringify(finished('failed', 'written meanwhile'));
      await orthanc.client.setStudyMetadata(studyId, METADATA.status, theirs);
      put.release();
      expect(await noting).toMatchObject({ kind: 'kept-existing', noted: false });
      expect(await statusText(orthanc, studyId)).toBe(theirs);
      expect(statusRequests(proxy, studyId)).toEqual(['GET', 'PUT if-match']);
    } finally {
      await proxy.close();
    }
  });
});

describe('a retry request (status back to queued)', () => {
  /** A study whose processing failed for its mark. */
  async function failedStudy(): Promise<string> {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify({ 'Right Kidney': '125 ml' }));
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.status, JSON.stringify(finished('failed', 'Orthanc was away')));
    return study.orthancId;
  }

  it('reads the status once and writes it once, over the revision it read', async () => {
    const studyId = await failedStudy();
    const proxy = await startGateProxy(orthanc.url);
    try {
      expect(await requestRetry(clientThrough(proxy, orthanc), studyId, new Date())).toEqual({ previous: 'failed' });
      expect(statusRequests(proxy, studyId)).toEqual(['GET', 'PUT if-match']);
      expect(parseStatus((await statusText(orthanc, studyId)) ?? '')).toMatchObject({ state: 'queued', attempts: 0 });
    } finally {
      await proxy.close();
    }
  });

  it('meets a status written between its read and its write with 409, and asks again from a fresh read', async () => {
    const studyId = await failedStudy();
    const proxy = await startGateProxy(orthanc.url);
    try {
      const put = proxy.hold((r) => r.method === 'PUT' && r.path === `/studies/${studyId}/metadata/${METADATA.status}`);
      const retrying = requestRetry(clientThrough(proxy, orthanc), studyId, new Date());
      await put.arrived(1);
      await orthanc.client.setStudyMetadata(studyId, METADATA.status, JSON.stringify(finished('done', 'written meanwhile')));
      put.release();
      // The first PUT lost (its If-Match named the failed status); the second read saw the done one.
      expect(await retrying).toEqual({ previous: 'done' });
      expect(statusRequests(proxy, studyId)).toEqual(['GET', 'PUT if-match', 'GET', 'PUT if-match']);
      expect(parseStatus((await statusText(orthanc, studyId)) ?? '')).toMatchObject({ state: 'queued' });
    } finally {
      await proxy.close();
    }
  });
});

describe('the sweep\'s failure of a label request it cannot answer (Orthanc 1.12: labels)', () => {
  const orthanc = useOrthanc({ StableAge: 3600 }, () => ({ binary: orthanc112().binary }));
  const settings = labelSettings();

  /** A sweep through `client` that looks at labelled studies on every turn; what it reported. */
  function sweep(client: OrthancClient): { sweep: Sweep; failed: StudyEvent[]; log: () => string } {
    const events = new SidecarEvents();
    const failed: StudyEvent[] = [];
    events.subscribe((e) => void (e.kind === 'failed' && failed.push(e)));
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (d: Buffer) => (text += d.toString()));
    const made = new Sweep({
      client,
      log: createLogger('info', stream),
      events,
      intervalMs: 3_600_000,
      labels: settings,
      labelIntervalMs: 0,
      segmentation: DEFAULT_SEGMENTATION_SETTINGS,
      enqueue: () => undefined,
      reflect: () => undefined,
    });
    return { sweep: made, failed, log: () => text };
  }

  it('reads the status once and writes it once, over the revision it read', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    // An earlier request's failure, for another reason: replaced over its revision.
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.status, JSON.stringify(finished('failed', 'an earlier label request')));
    await orthanc.client.addStudyLabel(study.orthancId, settings.request);
    const proxy = await startGateProxy(orthanc.url);
    try {
      const s = sweep(clientThrough(proxy, orthanc));
      await s.sweep.turn();
      expect(s.failed.map((e) => e.studyId)).toEqual([study.orthancId]);
      expect(statusRequests(proxy, study.orthancId)).toEqual(['GET', 'PUT if-match']);
      expect(parseStatus((await statusText(orthanc, study.orthancId)) ?? '')).toMatchObject({ state: 'failed', error: expect.stringContaining(`no ${METADATA.pending} mark`) });
    } finally {
      await orthanc.client.removeStudyLabel(study.orthancId, settings.request);
      await proxy.close();
    }
  });

  it('loses to a status created between its read and its write (create-only), and reports nothing', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await orthanc.client.addStudyLabel(study.orthancId, settings.request);
    const proxy = await startGateProxy(orthanc.url);
    try {
      const put = proxy.hold((r) => r.method === 'PUT' && r.path === `/studies/${study.orthancId}/metadata/${METADATA.status}`);
      const s = sweep(clientThrough(proxy, orthanc));
      const turning = s.sweep.turn();
      await put.arrived(1);
      const theirs = JSON.stringify(finished('done', 'written meanwhile'));
      await orthanc.client.setStudyMetadata(study.orthancId, METADATA.status, theirs);
      put.release();
      await turning;
      expect(await statusText(orthanc, study.orthancId)).toBe(theirs);
      expect(s.failed).toEqual([]);
      expect(s.log()).not.toContain('label-request-failed');
      expect(statusRequests(proxy, study.orthancId)).toEqual(['GET', 'PUT']);
    } finally {
      await orthanc.client.removeStudyLabel(study.orthancId, settings.request);
      await proxy.close();
    }
  });
});
