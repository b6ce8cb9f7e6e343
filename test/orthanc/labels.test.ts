// Labels (issue 15) against Debian 13's Orthanc 1.12.7 and the real sidecar process: a person's
// request label is answered from the pending mark or the study's SEG, or fails saying what is
// missing; outcome labels follow the status. And the sweep on Debian 12's 1.10, which has no
// labels: it pages through the studies and leaves labels alone.
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { labelSettings, orthancFeatures } from '../../src/orthanc/labels.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { DEFAULT_SEGMENTATION_SETTINGS } from '../../src/segmentation/settings.js';
import { SidecarEvents } from '../../src/sidecar/events.js';
import { Sweep } from '../../src/sidecar/sweep.js';
import { buildSeg, SMALL_KIDNEYS } from '../fixtures/seg.js';
import { buildStudy, ctStudy, uploadStudy } from '../fixtures/studies.js';
import { orthanc112 } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, waitFor, type RunningSidecar } from '../helpers/sidecar-process.js';
import { waitForState } from '../sidecar/harness.js';

const MARK = JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });

describe('labels on Orthanc 1.12', () => {
  let sidecar: RunningSidecar;
  const orthanc = useOrthanc({ StableAge: 3600 }, { binary: orthanc112().binary });
  beforeAll(async () => {
    // StableAge far away: SEGs reach the sidecar only through the label, not through StableSeries.
    sidecar = await runSidecar({ env: { ...orthanc.env, KV_LABEL_INTERVAL_MS: '1000', KV_POLL_INTERVAL_MS: '200', KV_APPROACHES: 'sr,fhir' } });
  }, 90_000);
  afterAll(async () => {
    await sidecar?.stop();
  });

  const labels = async (studyId: string): Promise<string[]> => (await orthanc.client.studyLabels(studyId)).sort();
  const labelsBecome = (studyId: string, expected: string[]): Promise<void> =>
    waitFor(async () => JSON.stringify(await labels(studyId)) === JSON.stringify(expected), 30_000, `labels of ${studyId} = ${expected.join(',')}`);

  it('are detected from /system', async () => {
    expect(orthanc.system.HasLabels).toBe(true);
    expect(await orthancFeatures(orthanc.client)).toEqual({ labels: true, metadataQuery: true });
  });

  it('a labelled study with a SEG and no mark is measured from the SEG; the request label becomes the done label', async () => {
    const spec = ctStudy(2);
    const study = await uploadStudy(orthanc.client, spec);
    await orthanc.client.upload(buildSeg(study, spec, SMALL_KIDNEYS).bytes);
    await orthanc.client.addStudyLabel(study.orthancId, 'kidney-volumes');
    const status = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 60_000);
    expect(status.state, status.error).toBe('done');
    expect(status.measurements[0]).toMatchObject({ method: 'segmentation', source: 'KidneyNet 2.1' });
    await labelsBecome(study.orthancId, ['kidney-volumes-done']);
  });

  it('a labelled study with neither a mark nor a SEG fails, saying what is missing', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await orthanc.client.addStudyLabel(study.orthancId, 'kidney-volumes');
    const status = await waitForState(orthanc.client, study.orthancId, ['failed', 'done'], 30_000);
    expect(status.state).toBe('failed');
    expect(status.error).toBe(
      `study is labelled "kidney-volumes" but has no ${METADATA.pending} mark and no segmentation (SEG series) to measure the kidneys from; add the measurements (attach, the API, or ${METADATA.pending}) or a SEG with right and left kidney segments, then set the label again`,
    );
    await labelsBecome(study.orthancId, ['kidney-volumes-failed']);
    // Asking again after adding the measurements: processed, and the failed label goes.
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, MARK);
    await orthanc.client.addStudyLabel(study.orthancId, 'kidney-volumes');
    expect((await waitForState(orthanc.client, study.orthancId, ['done'], 60_000)).state).toBe('done');
    await labelsBecome(study.orthancId, ['kidney-volumes-done']);
  });

  it('outcome labels follow a pending mark without any request label, and change with the state', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, MARK);
    await waitForState(orthanc.client, study.orthancId, ['done'], 60_000);
    await labelsBecome(study.orthancId, ['kidney-volumes-done']);
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, '{"Right Kidney": "lots"}');
    await waitForState(orthanc.client, study.orthancId, ['failed'], 30_000);
    await labelsBecome(study.orthancId, ['kidney-volumes-failed']);
  });

  it('a request label on a study already done for its mark is answered without processing it again', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, MARK);
    const done = await waitForState(orthanc.client, study.orthancId, ['done'], 60_000);
    await labelsBecome(study.orthancId, ['kidney-volumes-done']);
    await orthanc.client.addStudyLabel(study.orthancId, 'kidney-volumes');
    await labelsBecome(study.orthancId, ['kidney-volumes-done']);
    const after = JSON.parse((await orthanc.client.studyMetadata(study.orthancId, METADATA.status))?.value ?? '{}') as { updatedAt?: string };
    expect(after.updatedAt).toBe(done.updatedAt);
  });
});

describe('the sweep on Orthanc 1.10 (no labels)', () => {
  const orthanc = useOrthanc({}, { binary: '/usr/sbin/Orthanc' });

  it('pages through every study, one page per turn, and finds the marked ones without touching labels', async () => {
    expect(await orthancFeatures(orthanc.client)).toEqual({ labels: false, metadataQuery: false });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await orthanc.client.upload(buildStudy(ctStudy(1)).files[0]!)).ParentStudy);
    const marked = [ids[1]!, ids[5]!, ids[6]!];
    for (const id of marked) await orthanc.client.setStudyMetadata(id, METADATA.pending, MARK);
    const log = new PassThrough();
    let text = '';
    log.on('data', (d: Buffer) => (text += d.toString()));
    const found: string[] = [];
    const sweep = new Sweep({
      client: orthanc.client,
      log: createLogger('info', log),
      events: new SidecarEvents(),
      intervalMs: 60_000,
      labels: labelSettings(),
      segmentation: DEFAULT_SEGMENTATION_SETTINGS,
      enqueue: (id) => found.push(id),
      reflect: () => expect.unreachable('no labels on 1.10'),
      pageSize: 3,
    });
    const turns: number[] = [];
    for (let turn = 0; turn < 4; turn++) {
      await sweep.turn();
      turns.push(found.length);
    }
    // Pages of 3, 3 and 1 study; the fourth turn finds the sweep finished and not yet due again.
    expect(found.sort()).toEqual([...marked].sort());
    expect(turns).toEqual([1, 2, 3, 3]);
    expect(text).toContain('"by":"pages","studies":7,"pending":3');
  });
});
