/**
 * Issue 17: a stable SEG series is measured by a worker, not by the feed reader, and what it holds
 * is bounded by bytes. With the byte budget held elsewhere, the SEG waits for memory while a study
 * marked meanwhile is processed; once the bytes are free the SEG is measured and its study done.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ByteBudget } from '../../src/pipeline/byte-budget.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { buildSeg, type FixtureSeg } from '../fixtures/seg.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { startSidecar, waitForState, type TestSidecar } from '../sidecar/harness.js';

const orthanc = useOrthanc({ StableAge: 1 });
let running: TestSidecar;
const budget = new ByteBudget(1024 * 1024);

beforeAll(() => {
  running = startSidecar(orthanc.client, { processor: { approaches: ['sr'] }, sidecar: { concurrency: 2, budget } });
});
afterAll(async () => {
  await running?.stop();
});

const kidneys: FixtureSeg = {
  type: 'BINARY',
  rows: 16,
  columns: 16,
  pixelSpacing: [1, 1],
  sliceSpacing: 2,
  spacingIn: 'SpacingBetweenSlices',
  order: 'interleaved',
  seriesDescription: 'AI kidney segmentation',
  segments: [
    { label: 'R', coding: 'right-kidney', slices: [{ slice: 0, pixels: 100 }] },
    { label: 'L', coding: 'kidney+left', slices: [{ slice: 1, pixels: 120 }] },
  ],
};

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('measures a SEG in a worker once its bytes fit, while the feed goes on to a study marked meanwhile', async () => {
  const release = await budget.reserve(budget.limit);
  let released = false;
  try {
    const spec = ctStudy(2);
    const segStudy = await uploadStudy(orthanc.client, spec);
    await orthanc.client.upload(buildSeg(segStudy, spec, kidneys).bytes);
    // The SEG became stable and its worker waits for memory: it has not written a mark.
    await until('the SEG waiting for its bytes', () => budget.waitingCount === 1);
    const other = await uploadStudy(orthanc.client, ctStudy(1));
    await orthanc.client.setStudyMetadata(other.orthancId, METADATA.pending, JSON.stringify({ 'Right Kidney': '125 ml' }));
    await waitForState(orthanc.client, other.orthancId, ['done']);
    expect(budget.waitingCount).toBe(1);
    expect(await orthanc.client.studyMetadata(segStudy.orthancId, METADATA.pending)).toBeUndefined();

    release();
    released = true;
    const status = await waitForState(orthanc.client, segStudy.orthancId, ['done']);
    expect(status.state).toBe('done');
    expect((await orthanc.client.studyMetadata(segStudy.orthancId, METADATA.pending))?.value).toContain('segmentation');
    expect(budget.inUse).toBe(0);
  } finally {
    if (!released) release();
  }
}, 90_000);
