/**
 * Deleting the derived series of older versions (issue 14) against a real Orthanc: after a
 * correction only the current version's copies remain, KV_KEEP_SUPERSEDED keeps the old ones, and
 * an original that carries a KidneyVolInfo block with an older digest (made to look like ours) is
 * never deleted, nor is any original changed.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKidneyBlock } from '../../src/dicom/private-tags/read.js';
import { buildSet } from '../../src/measurements/parse.js';
import type { MeasurementSet } from '../../src/measurements/model.js';
import type { StepOutcome } from '../../src/pipeline/approaches.js';
import { privateStep } from '../../src/pipeline/private-step.js';
import { readStudyFacts } from '../../src/pipeline/read-facts.js';
import { UploadGuard } from '../../src/pipeline/study-guard.js';
import type { SupersededReport } from '../../src/pipeline/superseded.js';
import { legacySeries } from '../fixtures/legacy-images.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { startOrthanc, type TestOrthanc } from '../helpers/orthanc.js';

const first = buildSet([
  { name: 'Right Kidney', value: '125', unit: 'ml' },
  { name: 'Left Kidney', value: '132', unit: 'ml' },
]);
const corrected = buildSet([
  { name: 'Right Kidney', value: '130', unit: 'ml' },
  { name: 'Left Kidney', value: '132', unit: 'ml' },
]);

let orthanc: TestOrthanc;
beforeAll(async () => {
  orthanc = await startOrthanc();
});
afterAll(async () => {
  await orthanc?.stop();
});

async function write(studyId: string, measurements: MeasurementSet, keepSuperseded: boolean): Promise<StepOutcome> {
  const facts = await readStudyFacts(orthanc.client, studyId);
  const uploads = new UploadGuard(orthanc.client, facts);
  const outcome = await privateStep.write({ client: orthanc.client, facts, measurements, now: new Date(), settings: { srSeriesNumber: 9999, keepSuperseded }, earlier: [], uploads });
  await uploads.settle();
  return outcome;
}

function supersededOf(outcome: StepOutcome): SupersededReport {
  const details = outcome.details as { superseded?: SupersededReport };
  if (!details.superseded) throw new Error(`no superseded report in ${JSON.stringify(outcome.details)}`);
  return details.superseded;
}

/** Every series of the study: its block's digest (or none) and instance count. */
async function seriesDigests(studyId: string): Promise<{ uid: string; digest: string | undefined; instances: number }[]> {
  const out: { uid: string; digest: string | undefined; instances: number }[] = [];
  for (const s of await orthanc.client.studySeries(studyId)) {
    const block = readKidneyBlock(await orthanc.client.instanceFile(s.Instances[0] as string));
    out.push({ uid: s.MainDicomTags['SeriesInstanceUID'] ?? '', digest: block?.digest, instances: s.Instances.length });
  }
  return out;
}

describe('derived series of older versions', () => {
  it('are kept with KV_KEEP_SUPERSEDED, deleted without it; an original with our block and an older digest stays', async () => {
    const spec = ctStudy(3);
    const study = await uploadStudy(orthanc.client, spec);
    await write(study.orthancId, first, false);
    // An original (not made by us) whose block claims the first version's digest.
    const impostor = legacySeries({ studyInstanceUid: study.studyInstanceUid, patientId: spec.patient.id, lines: ['Right Kidney: 125 ml'], layout: 'plain', withDigest: first.digest });
    for (const file of impostor.files) expect((await orthanc.client.upload(file)).ParentStudy).toBe(study.orthancId);
    const originals = new Map<string, string>();
    for (const s of await orthanc.client.studySeries(study.orthancId)) {
      if (s.MainDicomTags['SeriesDescription']?.endsWith('+ kidney volumes')) continue;
      for (const id of s.Instances) originals.set(id, createHash('sha256').update(await orthanc.client.instanceFile(id)).digest('hex'));
    }
    expect(originals.size).toBe(5);

    const kept = await write(study.orthancId, corrected, true);
    const keptReport = supersededOf(kept);
    expect(keptReport.deleted).toEqual([]);
    expect(keptReport.kept.map((k) => k.reason).sort()).toEqual([
      'KV_KEEP_SUPERSEDED is set',
      expect.stringContaining('not the SeriesInstanceUID we derive'),
    ].sort());
    expect((await seriesDigests(study.orthancId)).filter((s) => s.digest === first.digest)).toHaveLength(2);

    const cleaned = await write(study.orthancId, corrected, false);
    const report = supersededOf(cleaned);
    expect(report.deleted).toEqual([{ seriesInstanceUid: expect.any(String), digest: first.digest, instances: 3 }]);
    expect(report.kept).toEqual([{ seriesInstanceUid: impostor.seriesInstanceUid, reason: expect.stringContaining('not the SeriesInstanceUID we derive') }]);
    const now = await seriesDigests(study.orthancId);
    expect(now.map((s) => [s.uid === impostor.seriesInstanceUid ? 'impostor' : s.digest === corrected.digest ? 'current' : s.digest === undefined ? 'original' : 'older', s.instances]).sort()).toEqual([
      ['current', 3],
      ['impostor', 2],
      ['original', 3],
    ]);
    for (const [id, hash] of originals) expect(createHash('sha256').update(await orthanc.client.instanceFile(id)).digest('hex')).toBe(hash);
  }, 120_000);
});
