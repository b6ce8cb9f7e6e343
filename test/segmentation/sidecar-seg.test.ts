/**
 * Issue 8 end to end: a real Orthanc (StableAge 1 s) and an in-process sidecar; a SEG pushed into a
 * study becomes measurements in the SR, the FHIR Bundle and the status, validated by the real validators.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKidneyBlock } from '../../src/dicom/private-tags/read.js';
import { validateFhirResource } from '../helpers/fhir-validate.js';
import { createLogger } from '../../src/log.js';
import { writePersonMark } from '../../src/inputs/person-mark.js';
import { parseMeasurementsJson } from '../../src/measurements/parse.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { dciodvfy, dsrdump, pixelmedSrValidator } from '../dicom/validators.js';
import { buildSeg, expectedMl, type FixtureSeg } from '../fixtures/seg.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, waitFor } from '../helpers/sidecar-process.js';
import { startSidecar, waitForState, type TestSidecar } from '../sidecar/harness.js';

let running: TestSidecar;
const logLines: Record<string, unknown>[] = [];

const orthanc = useOrthanc({ StableAge: 1 });
beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  running = startSidecar(orthanc.client, { processor: { log: createLogger('info', sink) } });
}, 60_000);
afterAll(async () => {
  await running?.stop();
});

// 32 x 32 pixels of 1.5 x 1.25 mm, 3 mm apart: 5.625 mm³ a voxel, volumes of a few mL to tens of mL.
const kidneys: FixtureSeg = {
  type: 'BINARY',
  rows: 32,
  columns: 32,
  pixelSpacing: [1.5, 1.25],
  sliceSpacing: 3,
  spacingIn: 'SpacingBetweenSlices',
  order: 'interleaved',
  seriesDescription: 'AI kidney segmentation',
  segments: [
    { label: 'Liver', coding: 'tissue', slices: [{ slice: 0, pixels: 1000 }] },
    { label: 'R', coding: 'right-kidney', algorithmName: 'KidneyNet 2.1', slices: [0, 1, 2, 3, 4, 5].map((slice, i) => ({ slice, pixels: [1000, 1024, 900, 777, 513, 1][i]! })) },
    { label: 'L', coding: 'kidney+left', algorithmName: 'KidneyNet 2.1', slices: [1, 2, 3, 4].map((slice, i) => ({ slice, pixels: [1024, 1003, 999, 17][i]! })) },
  ],
};

async function pushSeg(seg: FixtureSeg) {
  const spec = ctStudy(3);
  const study = await uploadStudy(orthanc.client, spec);
  const built = buildSeg(study, spec, seg);
  const answer = await orthanc.client.upload(built.bytes);
  expect(answer.ParentStudy).toBe(study.orthancId);
  return { study, seg: built };
}

async function waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const hit = logLines.find(match);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no matching log line within ${timeoutMs} ms; segmentation lines: ${JSON.stringify(logLines.filter((l) => l['event'] === 'segmentation'))}`);
}

describe('a SEG pushed into a study', () => {
  it('becomes right, left and total volumes in the SR and FHIR, referencing the SEG, all valid', async () => {
    const { study, seg } = await pushSeg(kidneys);
    const status = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 60_000);
    expect(status.state).toBe('done');
    const [right, left, total] = status.measurements.map((m) => Number(m.valueMl));
    expect(right).toBeCloseTo(expectedMl(kidneys, 'R'), 1);
    expect(left).toBeCloseTo(expectedMl(kidneys, 'L'), 1);
    expect(total).toBeCloseTo(expectedMl(kidneys, 'R') + expectedMl(kidneys, 'L'), 1);
    // The status says the volumes came from the segmentation.
    expect(status.measurements[0]).toMatchObject({ method: 'segmentation', source: 'KidneyNet 2.1', segmentation: { sopInstanceUid: seg.sopInstanceUid } });
    const pending = JSON.parse((await orthanc.client.studyMetadata(study.orthancId, METADATA.pending))?.value ?? '{}') as Record<string, unknown>;
    expect(pending['segmentation']).toEqual({ seriesInstanceUid: seg.seriesInstanceUid, sopInstanceUid: seg.sopInstanceUid });
    expect(pending['measurements']).toContainEqual(expect.objectContaining({ name: 'Right Kidney', method: 'segmentation', source: 'KidneyNet 2.1', segments: [2] }));

    // The SR: validators on the stored file; the tree names the derivation and references the segments.
    const srId = (status.outputs?.['sr'] as { orthancInstanceId: string }).orthancInstanceId;
    const file = join(mkdtempSync(join(tmpdir(), 'kv-seg-sr-')), 'sr.dcm');
    writeFileSync(file, await orthanc.client.instanceFile(srId));
    const [iod, dump, pixelmed] = await Promise.all([dciodvfy(file), dsrdump(file), pixelmedSrValidator(file)]);
    expect(iod.errors).toEqual([]);
    expect(dump.exitCode).toBe(0);
    expect(dump.errors).toEqual([]);
    expect(pixelmed.output).toContain('Found Root Template TID_1500 (MeasurementReport)');
    expect([...pixelmed.errors, ...pixelmed.warnings]).toEqual([]);
    expect(iod.warnings).toEqual([]);
    expect(dump.output).toContain('<has concept mod CODE:(,,"Derivation")=(113076,DCM,"Segmentation")>');
    // The right kidney is segment 2 of the SEG (dsrdump writes a SEG reference as "SG image" with its segment numbers).
    expect(dump.output).toContain('<contains IMAGE:(,,"Source of Measurement")=(SG image,,2)>');

    // FHIR: valid, with method and derivedFrom the SEG.
    const bundle = JSON.parse((await orthanc.client.studyMetadata(study.orthancId, METADATA.fhir))?.value ?? '{}') as Bundle;
    expect(validateFhirResource(bundle)).toEqual([]);
    const observations = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Observation => r?.resourceType === 'Observation');
    expect(observations).toHaveLength(3);
    for (const o of observations) {
      expect(o.method?.coding?.[0]?.code).toBe('113076');
      expect(o.derivedFrom).toContainEqual(expect.objectContaining({ identifier: { system: 'urn:dicom:uid', value: `urn:oid:${seg.sopInstanceUid}` } }));
    }

    // Private tags: the derived copy of the CT series carries the same volumes, found by creator.
    const derived = (await orthanc.client.studySeries(study.orthancId)).find((x) => x.MainDicomTags['SeriesDescription']?.endsWith('+ kidney volumes'));
    expect(derived?.Instances).toHaveLength(3);
    const block = readKidneyBlock(await orthanc.client.instanceFile(derived!.Instances[0]!));
    expect(block?.volumesMl).toEqual([right, left, total]);
    expect(block?.lines[0]).toBe(`Right Kidney: ${status.measurements[0]?.valueMl} ml`);
    // PixelMed's JVM alone takes 10-60 s when the other test files run beside it.
  }, 180_000);

  it('measures a fractional SEG matched by labels', async () => {
    const fractional: FixtureSeg = {
      ...kidneys,
      type: 'FRACTIONAL',
      maximumFractionalValue: 255,
      spacingIn: 'positions',
      order: 'reversed',
      segments: [
        { label: 'kidney_right', coding: 'tissue', slices: [{ slice: 0, pixels: 1024, value: 255 }, { slice: 1, pixels: 800, value: 128 }] },
        { label: 'Left Kidney', coding: 'tissue', slices: [{ slice: 2, pixels: 1024, value: 64 }, { slice: 3, pixels: 999, value: 255 }] },
      ],
    };
    const { study } = await pushSeg(fractional);
    const status = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 60_000);
    expect(status.state).toBe('done');
    expect(Number(status.measurements[0]?.valueMl)).toBeCloseTo(expectedMl(fractional, 'kidney_right'), 1);
    expect(Number(status.measurements[1]?.valueMl)).toBeCloseTo(expectedMl(fractional, 'Left Kidney'), 1);
  }, 60_000);

  it('leaves a study untouched when the SEG has no kidney, and logs it', async () => {
    const { study } = await pushSeg({ ...kidneys, segments: [kidneys.segments[0]!] });
    const line = await waitForLog((l) => l['studyId'] === study.orthancId && l['outcome'] === 'no-kidney');
    expect(JSON.stringify(line['reasons'])).toContain('no segment is coded or labelled as the right or left kidney');
    expect(await orthanc.client.studyMetadata(study.orthancId, METADATA.pending)).toBeUndefined();
  }, 60_000);

  it('does not overwrite measurements a person gave, and records on the status that a SEG came too', async () => {
    const spec = ctStudy(2);
    const study = await uploadStudy(orthanc.client, spec);
    const manual = JSON.stringify({ 'Right Kidney': '125 ml' });
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, manual);
    await waitForState(orthanc.client, study.orthancId, ['done']);
    const seg = buildSeg(study, spec, kidneys);
    await orthanc.client.upload(seg.bytes);
    await waitForLog((l) => l['studyId'] === study.orthancId && l['outcome'] === 'kept-existing');
    expect((await orthanc.client.studyMetadata(study.orthancId, METADATA.pending))?.value).toBe(manual);
    const status = JSON.parse((await orthanc.client.studyMetadata(study.orthancId, METADATA.status))?.value ?? '{}') as Record<string, unknown>;
    expect(status['state']).toBe('done');
    expect(status['segmentation']).toMatchObject({ sopInstanceUid: seg.sopInstanceUid, applied: false });
  }, 60_000);

  it('lets a later SEG supersede the mark of an earlier SEG, but never a person\'s mark (issue 14)', async () => {
    const spec = ctStudy(3);
    const study = await uploadStudy(orthanc.client, spec);
    const first = buildSeg(study, spec, kidneys);
    await orthanc.client.upload(first.bytes);
    const one = await waitForState(orthanc.client, study.orthancId, ['done'], 60_000);
    // A second, re-run segmentation of the same study with a smaller left kidney.
    const smaller: FixtureSeg = { ...kidneys, segments: [kidneys.segments[0]!, kidneys.segments[1]!, { ...kidneys.segments[2]!, slices: [{ slice: 1, pixels: 1024 }] }] };
    const second = buildSeg(study, spec, smaller);
    await orthanc.client.upload(second.bytes);
    await waitForLog((l) => l['studyId'] === study.orthancId && l['outcome'] === 'replaced');
    const deadline = Date.now() + 60_000;
    let two = one;
    while ((two.digest === one.digest || two.state !== 'done') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      two = await waitForState(orthanc.client, study.orthancId, ['done'], 60_000);
    }
    expect(two.measurements[0]?.segmentation?.sopInstanceUid).toBe(second.sopInstanceUid);
    expect(Number(two.measurements[1]?.valueMl)).toBeCloseTo(expectedMl(smaller, 'L'), 1);
    expect(two.history?.map((v) => v.source)).toEqual(['seg', 'seg']);

    // A person marks: that mark wins over every SEG that comes after it.
    const manual = JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });
    await writePersonMark(orthanc.client, study.orthancId, manual, parseMeasurementsJson(manual), 'api', new Date());
    const person = parseMeasurementsJson(manual).digest;
    for (let s = await waitForState(orthanc.client, study.orthancId, ['done']); s.digest !== person; s = await waitForState(orthanc.client, study.orthancId, ['done'])) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const third = buildSeg(study, spec, kidneys);
    await orthanc.client.upload(third.bytes);
    await waitForLog((l) => l['studyId'] === study.orthancId && l['outcome'] === 'kept-existing');
    expect((await orthanc.client.studyMetadata(study.orthancId, METADATA.pending))?.value).toBe(manual);
    const last = await waitForState(orthanc.client, study.orthancId, ['done']);
    expect(last.history?.map((v) => v.source)).toEqual(['seg', 'seg', 'api']);
  }, 120_000);

});

describe('a mark typed by a person that copies a SEG\'s fields (issue 14)', () => {
  it('is a person\'s mark: a later SEG does not replace it, and the history says "mark", not "seg"', async () => {
    const spec = ctStudy(3);
    const study = await uploadStudy(orthanc.client, spec);
    const first = buildSeg(study, spec, kidneys);
    await orthanc.client.upload(first.bytes);
    const bySeg = await waitForState(orthanc.client, study.orthancId, ['done'], 60_000);
    expect(bySeg.history?.map((v) => v.source)).toEqual(['seg']);

    // A person corrects the right kidney by a PUT straight into Orthanc, keeping the SEG's marker
    // fields (segmentation, method, source, segments) that the mark they copied carried.
    const pending = await orthanc.client.studyMetadata(study.orthancId, METADATA.pending);
    const copied = JSON.parse(pending?.value ?? '{}') as { segmentation: unknown; measurements: { name: string; value: string }[] };
    expect(copied.segmentation).toMatchObject({ sopInstanceUid: first.sopInstanceUid });
    const typed = JSON.stringify({ ...copied, measurements: copied.measurements.map((m) => (m.name === 'Right Kidney' ? { ...m, value: '140.00' } : m)) });
    await orthanc.client.putStudyMetadata(study.orthancId, METADATA.pending, typed, pending?.etag);
    const person = parseMeasurementsJson(typed).digest;
    let s = await waitForState(orthanc.client, study.orthancId, ['done']);
    for (const deadline = Date.now() + 60_000; s.digest !== person && Date.now() < deadline; s = await waitForState(orthanc.client, study.orthancId, ['done'])) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(s.digest).toBe(person);
    expect(s.history?.map((v) => v.source)).toEqual(['seg', 'mark']);

    // A later SEG of the study: recorded, never written over the person's mark.
    const smaller: FixtureSeg = { ...kidneys, segments: [kidneys.segments[0]!, kidneys.segments[1]!, { ...kidneys.segments[2]!, slices: [{ slice: 1, pixels: 1024 }] }] };
    const second = buildSeg(study, spec, smaller);
    await orthanc.client.upload(second.bytes);
    await waitForLog((l) => l['studyId'] === study.orthancId && l['outcome'] === 'kept-existing');
    expect((await orthanc.client.studyMetadata(study.orthancId, METADATA.pending))?.value).toBe(typed);
    const last = await waitForState(orthanc.client, study.orthancId, ['done']);
    expect([last.digest, last.history?.map((v) => v.source)]).toEqual([person, ['seg', 'mark']]);
    expect(last.segmentation).toMatchObject({ sopInstanceUid: second.sopInstanceUid, applied: false });
  }, 120_000);
});

describe('KV_SEGMENTATION=off', () => {
  // An Orthanc of its own: the in-process sidecar above (switched on) would measure any SEG pushed into the other one.
  const own = useOrthanc({ StableAge: 1 });
  const MARK = JSON.stringify({ 'Right Kidney': '125 ml' });

  /** The Seq of the StableSeries change of a series, once Orthanc has written it. */
  async function stableSeriesSeq(seriesId: string): Promise<number> {
    let seq: number | undefined;
    await waitFor(async () => {
      for (let since = 0; ; ) {
        const page = await own.client.changes(since, 1000);
        seq = page.Changes.find((c) => c.ChangeType === 'StableSeries' && c.ID === seriesId)?.Seq;
        if (seq !== undefined || page.Done) return seq !== undefined;
        since = page.Last;
      }
    }, 20_000, `the StableSeries change of ${seriesId}`);
    return seq!;
  }

  it('a sidecar switched off leaves a pushed SEG alone; switched on, it measures the same SEG', async () => {
    const spec = ctStudy(3);
    const study = await uploadStudy(own.client, spec);
    const seg = buildSeg(study, spec, kidneys);
    const env = { ...own.env, KV_POLL_INTERVAL_MS: '200', KV_APPROACHES: 'sr' };
    const off = await runSidecar({ env: { ...env, KV_SEGMENTATION: 'off' } });
    try {
      const seriesId = (await own.client.upload(seg.bytes)).ParentSeries;
      await stableSeriesSeq(seriesId);
      // A study marked after the SEG became stable: the feed is read in order and a stable series is
      // handled before the next change, so once this one is done the sidecar has passed the SEG.
      const later = await uploadStudy(own.client, ctStudy(1));
      await own.client.setStudyMetadata(later.orthancId, METADATA.pending, MARK);
      expect((await waitForState(own.client, later.orthancId, ['done', 'failed'], 30_000)).state).toBe('done');
      expect(await own.client.studyMetadata(study.orthancId, METADATA.pending)).toBeUndefined();
      expect(await own.client.studyMetadata(study.orthancId, METADATA.status)).toBeUndefined();
      expect(off.stdout()).not.toContain('"event":"segmentation"');
    } finally {
      expect((await off.stop()).code).toBe(0);
    }
    // Switched on (the default), a sidecar reading the same feed from its beginning measures that SEG.
    const on = await runSidecar({ env, args: ['--from-beginning'] });
    try {
      const status = await waitForState(own.client, study.orthancId, ['done', 'failed'], 60_000);
      expect(status.state).toBe('done');
      expect(status.measurements[0]).toMatchObject({ method: 'segmentation', segmentation: { sopInstanceUid: seg.sopInstanceUid } });
    } finally {
      expect((await on.stop()).code).toBe(0);
    }
  }, 120_000);
});
