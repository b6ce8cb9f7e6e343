// End to end with the real sidecar process: two studies marked straight in Orthanc (as AI tools
// do) end done with all three outputs within seconds; a bad mark fails alone; a restart writes
// nothing twice.
import { describe, expect, it } from 'vitest';
import { METADATA } from '../../src/orthanc/metadata.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runCli } from '../helpers/cli.js';
import { runSidecar } from '../helpers/sidecar-process.js';
import { seriesCounts, waitForState } from './harness.js';

const orthanc = useOrthanc();

describe('the sidecar process end to end', () => {
  it('attaches two marked studies, fails a bad one alone, and writes nothing twice after a restart', async () => {
    const env = { ...orthanc.env, KV_POLL_INTERVAL_MS: '250', KV_REPLICA_ID: 'e2e' };
    const one = await uploadStudy(orthanc.client, ctStudy(4));
    const two = await uploadStudy(orthanc.client, { ...ctStudy(3), series: [{ modality: 'MR', images: 3 }, { modality: 'CT', images: 2 }] });
    const bad = await uploadStudy(orthanc.client, ctStudy(1));
    const first = await runSidecar({ env });
    const started = Date.now();
    await orthanc.client.setStudyMetadata(one.orthancId, METADATA.pending, '{"Right Kidney": "125 ml", "Left Kidney": "132 ml", "Total Volume": "257 ml"}');
    await orthanc.client.setStudyMetadata(bad.orthancId, METADATA.pending, '{"Right Kidney": "lots"}');
    await orthanc.client.setStudyMetadata(two.orthancId, METADATA.pending, '{"measurements": [{"name": "Left Kidney", "value": 0.14, "unit": "L"}]}');
    const [doneOne, doneTwo, failed] = await Promise.all([
      waitForState(orthanc.client, one.orthancId, ['done', 'failed'], 20_000),
      waitForState(orthanc.client, two.orthancId, ['done', 'failed'], 20_000),
      waitForState(orthanc.client, bad.orthancId, ['done', 'failed'], 20_000),
    ]);
    const elapsed = Date.now() - started;
    expect([doneOne.state, doneTwo.state, failed.state]).toEqual(['done', 'done', 'failed']);
    expect(elapsed).toBeLessThan(20_000);
    expect(failed.error).toContain('"Right Kidney": volume must be a number, got "lots"');
    for (const status of [doneOne, doneTwo]) expect(Object.keys(status.outputs ?? {}).sort()).toEqual(['fhir', 'private', 'sr']);
    expect(doneTwo.measurements).toEqual([{ name: 'Left Kidney', valueMl: '140', anatomy: 'left-kidney' }]);
    // originals + one SR + one derived copy per image series
    expect(await seriesCounts(orthanc.client, one.orthancId)).toEqual({ srInstances: 1, series: 3, instances: 4 + 1 + 4 });
    expect(await seriesCounts(orthanc.client, two.orthancId)).toEqual({ srInstances: 1, series: 5, instances: 5 + 1 + 5 });
    expect(await seriesCounts(orthanc.client, bad.orthancId)).toEqual({ srInstances: 0, series: 1, instances: 1 });
    expect((await first.stop()).code).toBe(0);

    // What a person sees: verify reads back the mark, the status and every output.
    const shown = await runCli(['verify', one.studyInstanceUid], orthanc.env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('sidecar status: done (attempt 1,');
    expect(shown.stdout).toMatch(/^sr: SR .*Right Kidney 125 mL \[Right kidney structure\]/m);
    expect(shown.stdout).toMatch(/^fhir: 3 Observation\(s\)/m);
    expect(shown.stdout).toMatch(/^private: 1 derived series with KidneyVolInfo: Right Kidney: 125 ml; Left Kidney: 132 ml; Total Volume: 257 ml/m);
    const failedShown = await runCli(['verify', bad.studyInstanceUid], orthanc.env);
    expect(failedShown.stdout).toContain('sidecar status: failed (attempt 1,');
    expect(failedShown.stdout).toContain('volume must be a number, got "lots"');

    const second = await runSidecar({ env: { ...env, KV_SWEEP_INTERVAL_MS: '1000' }, stateDir: first.stateDir });
    try {
      await new Promise((r) => setTimeout(r, 2500));
      expect(second.stdout()).toContain('"event":"sweep"');
      expect(second.stdout()).not.toContain('"event":"claimed"');
      expect(await seriesCounts(orthanc.client, one.orthancId)).toEqual({ srInstances: 1, series: 3, instances: 9 });
      expect((await waitForState(orthanc.client, one.orthancId, ['done'])).updatedAt).toBe(doneOne.updatedAt);
    } finally {
      expect((await second.stop()).code).toBe(0);
    }
  });
});
