import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nock from 'nock';
import { describe, expect, it } from 'vitest';
import { METADATA } from '../../src/orthanc/metadata.js';
import { processStudy, type ProcessorDeps, type ProcessResult } from '../../src/sidecar/processor.js';
import { SidecarEvents } from '../../src/sidecar/events.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { seriesCounts, startSidecar, testProcessor, waitForState } from './harness.js';

const orthanc = useOrthanc();

const mark = (studyId: string, value: unknown) => orthanc.client.setStudyMetadata(studyId, METADATA.pending, JSON.stringify(value));

describe('the sidecar follows the changes feed', () => {
  it('processes marked studies with all three outputs, fails a bad mark alone, and ignores its own writes', async () => {
    const a = await uploadStudy(orthanc.client, ctStudy(3));
    const b = await uploadStudy(orthanc.client, ctStudy(2));
    const bad = await uploadStudy(orthanc.client, ctStudy(1));
    const running = startSidecar(orthanc.client);
    try {
      await mark(a.orthancId, { 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });
      await mark(bad.orthancId, { 'Right Kidney': '-4 ml' });
      await mark(b.orthancId, { 'Total Volume': '263.7 ml' });
      const [doneA, doneB, failed] = await Promise.all([
        waitForState(orthanc.client, a.orthancId, ['done', 'failed']),
        waitForState(orthanc.client, b.orthancId, ['done', 'failed']),
        waitForState(orthanc.client, bad.orthancId, ['done', 'failed']),
      ]);
      expect(doneA.state).toBe('done');
      expect(doneB.state).toBe('done');
      expect(failed.state).toBe('failed');
      expect(failed.error).toContain('"Right Kidney": volume must be positive, got "-4 ml"');
      expect(Object.keys(doneA.outputs ?? {}).sort()).toEqual(['fhir', 'private', 'sr']);
      expect(doneA.measurements.map((m) => m.valueMl)).toEqual(['125', '132']);
      expect(doneA.writes?.length).toBe(3);
      expect(await orthanc.client.studyMetadata(a.orthancId, METADATA.fhir)).toBeDefined();
      // 3 originals + 3 derived copies + 1 SR
      expect(await seriesCounts(orthanc.client, a.orthancId)).toEqual({ srInstances: 1, series: 3, instances: 7 });

      // Our own status writes come back through the feed: they must not cause a second processing.
      await new Promise((r) => setTimeout(r, 1000));
      expect(running.events.filter((e) => e.kind === 'processing' && e.studyId === a.orthancId)).toHaveLength(1);
      expect(running.events.filter((e) => e.kind === 'failed' && e.studyId === bad.orthancId)).toHaveLength(1);
    } finally {
      await running.stop();
    }
  });

  it('does not process a mark again after a restart, and processes a changed mark as a new version', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(2));
    const first = startSidecar(orthanc.client);
    await mark(study.orthancId, { 'Right Kidney': '125 ml' });
    const done = await waitForState(orthanc.client, study.orthancId, ['done']);
    await first.stop();

    const second = startSidecar(orthanc.client, { stateDir: first.stateDir, startFrom: 'beginning' });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      expect(second.events.filter((e) => e.kind === 'processing')).toEqual([]);
      expect((await waitForState(orthanc.client, study.orthancId, ['done'])).updatedAt).toBe(done.updatedAt);

      await mark(study.orthancId, { 'Right Kidney': '126 ml' });
      const again = await waitUntilValue(study.orthancId, '126');
      expect(again.measurements[0]?.valueMl).toBe('126');
      // The old SR stays and a new one is added; the derived series for the old values stays too.
      expect((await seriesCounts(orthanc.client, study.orthancId)).srInstances).toBe(2);
    } finally {
      await second.stop();
    }
  });

  it('finds a mark set while it was not running, with the sweep', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await mark(study.orthancId, { 'Left Kidney': '99 ml' });
    const running = startSidecar(orthanc.client);
    try {
      expect((await waitForState(orthanc.client, study.orthancId, ['done'])).state).toBe('done');
    } finally {
      await running.stop();
    }
  });
});

describe('faults', () => {
  it('retries a 503 in the middle of a study, then completes', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(2));
    await mark(study.orthancId, { 'Right Kidney': '111 ml' });
    const scope = nock(orthanc.url, { allowUnmocked: true }).post('/instances').times(2).reply(503, { Details: 'storage is busy' });
    let uploads = 0;
    scope.on('request', () => uploads++);
    try {
      const events = new SidecarEvents();
      // A first delay long enough that the early check below surely comes before it ends, even on a loaded machine.
      const processor = testProcessor(orthanc.client, events, { approaches: ['sr'], retryBaseMs: 1000 });
      const first = await processStudy(processor, study.orthancId);
      expect(first.kind).toBe('retry');
      const waiting = await waitForState(orthanc.client, study.orthancId, ['processing']);
      expect(waiting.error).toContain('503 Service Unavailable from Orthanc: storage is busy');
      expect(waiting.nextAttemptAt).toBeDefined();
      // Before the time set for the next attempt, a check only waits: it writes and uploads nothing.
      const early = await processStudy(processor, study.orthancId);
      expect(early.kind).toBe('retry');
      expect(uploads).toBe(1);
      expect((await afterTheWait(processor, study.orthancId, early)).kind).toBe('retry');
      expect(scope.isDone()).toBe(true);
      const third = await afterTheWait(processor, study.orthancId, await processStudy(processor, study.orthancId));
      expect(third.kind).toBe('done');
      expect((await seriesCounts(orthanc.client, study.orthancId)).srInstances).toBe(1);
    } finally {
      nock.cleanAll();
    }
  });

  it('backs off between attempts in the running sidecar, although its own status writes come back through the feed', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    nock(orthanc.url, { allowUnmocked: true }).post('/instances').times(2).reply(503, { Details: 'storage is busy' });
    const running = startSidecar(orthanc.client, { processor: { approaches: ['sr'], retryBaseMs: 600, maxAttempts: 3 } });
    try {
      await mark(study.orthancId, { 'Right Kidney': '113 ml' });
      const done = await waitForState(orthanc.client, study.orthancId, ['done', 'failed']);
      expect(done.state).toBe('done');
      expect(done.attempts).toBe(3);
      const starts = running.events.filter((e) => e.kind === 'processing' && e.studyId === study.orthancId).map((e) => Date.parse(e.at));
      expect(starts).toHaveLength(3);
      // 600 ms before the second attempt, 1200 ms before the third.
      expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(550);
      expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(1100);
    } finally {
      await running.stop();
      nock.cleanAll();
    }
  });

  it('fails a study after the configured attempts, with an actionable error', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await mark(study.orthancId, { 'Right Kidney': '112 ml' });
    nock(orthanc.url, { allowUnmocked: true }).post('/instances').times(2).reply(503, { Details: 'disk full' });
    try {
      const processor = testProcessor(orthanc.client, new SidecarEvents(), { approaches: ['sr'], maxAttempts: 2 });
      const first = await processStudy(processor, study.orthancId);
      expect(first.kind).toBe('retry');
      const last = await afterTheWait(processor, study.orthancId, first);
      expect(last.kind).toBe('failed');
      const status = await waitForState(orthanc.client, study.orthancId, ['failed']);
      expect(status.error).toMatch(/disk full \(gave up after 2 attempts; retry with "kidney-volumes retry /);
      expect(status.attempts).toBe(2);
    } finally {
      nock.cleanAll();
    }
  });
});

/** Waits out the delay a retry result asks for, then checks the study again. */
async function afterTheWait(processor: ProcessorDeps, studyId: string, result: ProcessResult): Promise<ProcessResult> {
  if (result.kind === 'retry') await new Promise((r) => setTimeout(r, result.afterMs + 20));
  return processStudy(processor, studyId);
}

async function waitUntilValue(studyId: string, value: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await waitForState(orthanc.client, studyId, ['done']);
    if (status.measurements[0]?.valueMl === value) return status;
    if (Date.now() > deadline) throw new Error(`study ${studyId} never got done with ${value} mL; last: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('deliveries from the sidecar', () => {
  it('writes the HL7 v2 result of a processed study and records it in the status', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kv-hl7-'));
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const running = startSidecar(orthanc.client, {
      processor: {
        approaches: ['sr', 'fhir'],
        settings: {
          srSeriesNumber: 9999,
          timeZone: 'UTC',
          delivery: { hl7: { dir, timeoutMs: 2000, sender: { application: 'KV', facility: 'TEST' }, receiver: { application: 'RIS', facility: 'TEST' } }, attempts: 1, retryBaseMs: 10 },
        },
      },
    });
    try {
      await mark(study.orthancId, { 'Right Kidney': '125 ml' });
      const done = await waitForState(orthanc.client, study.orthancId, ['done', 'failed']);
      expect(done.state).toBe('done');
      expect(Object.keys(done.outputs ?? {}).sort()).toEqual(['fhir', 'hl7', 'sr']);
      const files = readdirSync(dir);
      expect(files).toHaveLength(1);
      expect(readFileSync(join(dir, files[0]!), 'utf8')).toMatch(/OBX\|1\|NM\|118565006\^Volume\^SCT.*\|125\|mL\^milliliter\^UCUM/);
    } finally {
      await running.stop();
    }
  });
});
