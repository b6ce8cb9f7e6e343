// kill -9 at several points of a 50-image study, then a restart: the study must end processed
// exactly once, nothing half-written may look finished, and the originals stay untouched.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { METADATA } from '../../src/pipeline/metadata.js';
import { parseStatus } from '../../src/sidecar/status.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, waitFor } from '../helpers/sidecar-process.js';
import { waitForState } from './harness.js';

const IMAGES = 50;
const orthanc = useOrthanc();

/** Fast polling and retries, and a fixed replica name so the restarted process resumes its own claim. */
function sidecarEnv(): Record<string, string> {
  return { ...orthanc.env, KV_POLL_INTERVAL_MS: '200', KV_RETRY_BASE_MS: '200', KV_REPLICA_ID: 'test-sidecar' };
}

async function state(studyId: string): Promise<string | undefined> {
  const revision = await orthanc.client.studyMetadata(studyId, METADATA.status);
  return revision ? parseStatus(revision.value)?.state : undefined;
}

async function counts(studyId: string): Promise<{ series: number; instances: number; sr: number }> {
  const series = await orthanc.client.studySeries(studyId);
  return {
    series: series.length,
    instances: series.reduce((n, s) => n + s.Instances.length, 0),
    sr: series.filter((s) => s.MainDicomTags['Modality'] === 'SR').reduce((n, s) => n + s.Instances.length, 0),
  };
}

async function originalsDigest(ids: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const id of ids) hash.update(await orthanc.client.instanceFile(id));
  return hash.digest('hex');
}

const KILL_POINTS: Record<string, (studyId: string) => Promise<boolean>> = {
  'right after the claim': async (id) => (await state(id)) === 'processing',
  'after the SR is stored': async (id) => (await counts(id)).sr >= 1,
  'after the FHIR Bundle is stored': async (id) => (await orthanc.client.studyMetadata(id, METADATA.fhir)) !== undefined,
  'in the middle of the derived copies': async (id) => (await counts(id)).instances >= IMAGES + 1 + 10,
};

describe('kill -9 and restart', () => {
  for (const [point, reached] of Object.entries(KILL_POINTS)) {
    it(`completes the study exactly once when killed ${point}`, async () => {
      const study = await uploadStudy(orthanc.client, { ...ctStudy(IMAGES), series: [{ modality: 'CT', images: IMAGES, rows: 256, columns: 256 }] });
      const series = await orthanc.client.studySeries(study.orthancId);
      const originalIds = [...series[0]!.Instances].sort();
      const before = await originalsDigest(originalIds);

      const first = await runSidecar({ env: sidecarEnv() });
      await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' }));
      await waitFor(() => reached(study.orthancId), 60_000, point);
      await first.kill9();

      // Whatever was written so far must not look finished.
      const afterKill = await state(study.orthancId);
      if (afterKill === 'done') {
        // The kill can land after the done write; then nothing may be missing.
        expect(await counts(study.orthancId)).toEqual({ series: 3, instances: IMAGES * 2 + 1, sr: 1 });
      } else {
        expect(afterKill).toBe('processing');
      }

      const second = await runSidecar({ env: sidecarEnv(), stateDir: first.stateDir });
      try {
        const done = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 60_000);
        expect(done.state).toBe('done');
        expect(await counts(study.orthancId)).toEqual({ series: 3, instances: IMAGES * 2 + 1, sr: 1 });
        expect(await orthanc.client.studyMetadata(study.orthancId, METADATA.fhir)).toBeDefined();
        const now = await orthanc.client.studySeries(study.orthancId);
        const original = now.find((s) => s.ID === series[0]!.ID);
        expect([...original!.Instances].sort()).toEqual(originalIds);
        expect(await originalsDigest(originalIds)).toBe(before);
      } finally {
        expect((await second.stop()).code).toBe(0);
      }
    });
  }
});
