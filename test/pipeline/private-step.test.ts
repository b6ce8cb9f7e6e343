/**
 * The private-tags step against a real Orthanc: one derived copy per image series, in the
 * source's transfer syntax, with our block where the rules put it; originals untouched;
 * idempotent; an interrupted run completed by the next; dciodvfy no worse than the source.
 */
import { UploadGuard } from '../../src/pipeline/study-guard.js';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareWithSource } from '../../src/dicom/private-tags/compare.js';
import { parsePart10 } from '../../src/dicom/private-tags/part10-file.js';
import { readKidneyBlock } from '../../src/dicom/private-tags/read.js';
import { encodePart10 } from '../../src/dicom/part10.js';
import { newUid } from '../../src/uids.js';
import { buildSet } from '../../src/measurements/parse.js';
import { OrthancClient } from '../../src/orthanc/client.js';
import type { BodyMemory } from '../../src/orthanc/transport.js';
import type { UploadResult } from '../../src/orthanc/types.js';
import type { StepContext } from '../../src/pipeline/approaches.js';
import { createPrivateStep, privateStep } from '../../src/pipeline/private-step.js';
import { readStudyFacts } from '../../src/pipeline/read-facts.js';
import { buildStudy, ctStudy, uploadStudy, type FixtureSeries } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { dciodvfy } from '../dicom/validators.js';

const measurements = buildSet([
  { name: 'Right Kidney', value: '125', unit: 'ml' },
  { name: 'Left Kidney', value: '132', unit: 'ml' },
]);
const LINES = ['Right Kidney: 125 ml', 'Left Kidney: 132 ml'];

const work = mkdtempSync(join(tmpdir(), 'kv-private-step-'));
const orthanc = useOrthanc();
afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
});

async function context(studyId: string, client: OrthancClient = orthanc.client): Promise<StepContext> {
  const facts = await readStudyFacts(client, studyId);
  return { client, facts, measurements, now: new Date(), settings: { srSeriesNumber: 9999 }, earlier: [], uploads: new UploadGuard(client, facts) };
}

let counter = 0;
function dcmtk(tool: string, args: readonly string[], bytes: Buffer): Buffer {
  const [input, output] = [join(work, `in-${++counter}.dcm`), join(work, `out-${counter}.dcm`)];
  writeFileSync(input, bytes);
  execFileSync(tool, [...args, input, output], { stdio: 'pipe' });
  return readFileSync(output);
}

/** Every instance of a study: Orthanc ID to MD5 of its stored file. */
async function fileHashes(studyId: string): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for (const series of await orthanc.client.studySeries(studyId)) {
    for (const id of series.Instances) hashes.set(id, createHash('md5').update(await orthanc.client.instanceFile(id)).digest('hex'));
  }
  return hashes;
}

/** A Comprehensive SR in the study: a non-image series the step must not copy. */
function srInstance(studyInstanceUid: string, patientId: string): Buffer {
  return encodePart10({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.88.33',
    SOPInstanceUID: newUid(),
    StudyInstanceUID: studyInstanceUid,
    SeriesInstanceUID: newUid(),
    Modality: 'SR',
    PatientID: patientId,
    PatientName: 'Doe^Jane',
    SeriesNumber: '99',
  });
}

describe('the private-tags step on a real Orthanc', () => {
  it('copies each image series once, in its transfer syntax, leaving originals and non-image series alone', async () => {
    const spec = ctStudy(1);
    const series: { spec: FixtureSeries; transcode?: (b: Buffer) => Buffer; uid?: string; slot: number }[] = [
      { spec: { modality: 'CT', images: 3, description: 'Clean' }, slot: 0x10 },
      { spec: { modality: 'CT', images: 2, description: 'GE', foreignCreator: true }, slot: 0x11 },
      { spec: { modality: 'CT', images: 2, description: 'Crowded', crowdedCreators: true }, slot: 0x21 },
      { spec: { modality: 'CT', images: 2, description: 'JPEG' }, transcode: (b) => dcmtk('dcmcjpeg', [], b), uid: '1.2.840.10008.1.2.4.70', slot: 0x10 },
      { spec: { modality: 'CT', images: 2, description: 'RLE', foreignCreator: true }, transcode: (b) => dcmtk('dcmcrle', [], b), uid: '1.2.840.10008.1.2.5', slot: 0x11 },
      { spec: { modality: 'MR', images: 2, description: 'Big endian' }, transcode: (b) => dcmtk('dcmconv', ['+tb'], b), uid: '1.2.840.10008.1.2.2', slot: 0x10 },
      { spec: { modality: 'CT', images: 2, description: 'Implicit' }, transcode: (b) => dcmtk('dcmconv', ['+ti'], b), uid: '1.2.840.10008.1.2', slot: 0x10 },
    ];
    const built = buildStudy({ ...spec, series: series.map((s) => s.spec) });
    let studyId = '';
    let index = 0;
    for (const s of series) {
      for (let i = 0; i < s.spec.images; i++) {
        const file = built.files[index++] as Buffer;
        studyId = (await orthanc.client.upload(s.transcode ? s.transcode(file) : file)).ParentStudy;
      }
    }
    await orthanc.client.upload(srInstance(built.studyInstanceUid, spec.patient.id));
    const before = await fileHashes(studyId);

    const outcome = await privateStep.write(await context(studyId));
    expect(outcome.alreadyPresent).toBe(false);
    expect(outcome.details['series']).toHaveLength(series.length);

    const after = await readStudyFacts(orthanc.client, studyId);
    expect(after.series).toHaveLength(series.length * 2 + 1);
    for (const [i, s] of series.entries()) {
      const sourceUid = built.series[i]?.seriesInstanceUid as string;
      const source = after.series.find((x) => x.seriesInstanceUid === sourceUid);
      const copies = after.series.filter((x) => x.seriesDescription === `${s.spec.description} + kidney volumes`);
      expect(copies, s.spec.description).toHaveLength(1);
      const copy = copies[0]!;
      expect(copy.seriesNumber).toBe(String(1000 + i + 1));
      expect(copy.instances).toHaveLength(s.spec.images);
      for (const instance of copy.instances) {
        const copyBytes = await orthanc.client.instanceFile(instance.orthancId);
        const sourceInstance = source?.instances.find((x) => x.instanceNumber === instance.instanceNumber);
        const sourceBytes = await orthanc.client.instanceFile(sourceInstance?.orthancId ?? '');
        expect(compareWithSource(sourceBytes, copyBytes), s.spec.description).toEqual({ changed: [], missing: [], added: [], metaChanged: [], sameTransferSyntax: true });
        if (s.uid) expect(parsePart10(copyBytes).transferSyntaxUid).toBe(s.uid);
        expect(readKidneyBlock(copyBytes)).toMatchObject({ slot: s.slot, lines: LINES, volumesMl: [125, 132], sourceSeriesInstanceUid: sourceUid, digest: measurements.digest });
      }
    }
    expect(await fileHashes(studyId).then((h) => [...h].filter(([id]) => before.has(id)))).toEqual([...before]);

    // Twice with the same measurements: nothing new.
    const again = await privateStep.write(await context(studyId));
    expect(again.alreadyPresent).toBe(true);
    expect((await readStudyFacts(orthanc.client, studyId)).series).toHaveLength(series.length * 2 + 1);
    expect((await fileHashes(studyId)).size).toBe(before.size + series.reduce((n, s) => n + s.spec.images, 0));

    const stored = await privateStep.inspect(orthanc.client, after);
    expect(stored).toMatchObject({ found: true });
    expect(stored.summary).toContain('Right Kidney: 125 ml; Left Kidney: 132 ml');

    // dciodvfy finds nothing wrong with a copy that is not wrong with its source.
    const copy = after.series.find((x) => x.seriesDescription === 'GE + kidney volumes')!;
    const source = after.series.find((x) => x.seriesInstanceUid === built.series[1]?.seriesInstanceUid)!;
    writeFileSync(join(work, 'source.dcm'), await orthanc.client.instanceFile(source.instances[0]!.orthancId));
    writeFileSync(join(work, 'copy.dcm'), await orthanc.client.instanceFile(copy.instances[0]!.orthancId));
    const known = new Set((await dciodvfy(join(work, 'source.dcm'))).errors);
    expect((await dciodvfy(join(work, 'copy.dcm'))).errors.filter((e) => !known.has(e))).toEqual([]);
  });

  it('completes an interrupted run of a 200-image series, without duplicates and never looking finished early', async () => {
    const study = await uploadQuickly(ctStudy(200));
    const before = await fileHashes(study);
    const failing = new FailingClient(50);
    await expect(createPrivateStep({ concurrency: 4 }).write(await context(study, failing))).rejects.toThrow('injected upload failure');
    const halfway = await readStudyFacts(orthanc.client, study);
    expect(halfway.series).toHaveLength(2);
    expect(halfway.series.find((s) => s.seriesDescription?.endsWith('+ kidney volumes'))?.instances).toHaveLength(50);
    expect((await privateStep.inspect(orthanc.client, halfway)).found).toBe(false);

    const progress: number[] = [];
    const outcome = await privateStep.write({ ...(await context(study)), progress: (p) => progress.push(p.done) });
    expect(outcome.alreadyPresent).toBe(false);
    expect(outcome.details['series']).toMatchObject([{ instances: 200, uploaded: 150, creatorSlot: '(0011,0010)' }]);
    expect(progress.at(-1)).toBe(150);
    const done = await readStudyFacts(orthanc.client, study);
    expect(done.series).toHaveLength(2);
    const copy = done.series.find((s) => s.seriesDescription?.endsWith('+ kidney volumes'));
    expect(new Set(copy?.instances.map((i) => i.sopInstanceUid)).size).toBe(200);
    expect((await privateStep.inspect(orthanc.client, done)).found).toBe(true);
    expect(await fileHashes(study).then((h) => [...h].filter(([id]) => before.has(id)))).toEqual([...before]);
  });

  it('says plainly when a study has no image series', async () => {
    const studyUid = newUid();
    const { ParentStudy } = await orthanc.client.upload(srInstance(studyUid, 'PID-SR-ONLY'));
    await expect(privateStep.write(await context(ParentStudy))).rejects.toThrow(/has no image series/);
  });
});

/** A client whose uploads fail after the first `allowed`: an interruption at a known point. */
class FailingClient extends OrthancClient {
  private uploads = 0;
  constructor(private readonly allowed: number) {
    super({ url: orthanc.url, username: orthanc.username, password: orthanc.password, retries: 0 });
  }
  override async upload(bytes: Buffer): Promise<UploadResult> {
    if (++this.uploads > this.allowed) throw new Error('injected upload failure');
    return super.upload(bytes);
  }
}

async function uploadQuickly(spec: ReturnType<typeof ctStudy>): Promise<string> {
  const built = buildStudy(spec);
  const results = await Promise.all(built.files.map((f) => orthanc.client.upload(f)));
  return results[0]?.ParentStudy ?? '';
}

/** A client that counts whole-file downloads by Orthanc instance ID. */
class DownloadCounter extends OrthancClient {
  readonly downloads = new Map<string, number>();
  override instanceFile(id: string, into?: BodyMemory): Promise<Buffer> {
    this.downloads.set(id, (this.downloads.get(id) ?? 0) + 1);
    return super.instanceFile(id, into);
  }
}

/** A client that records the most downloads and uploads it had in flight at once. */
class InFlightCounter extends OrthancClient {
  private downloading = 0;
  private uploading = 0;
  maxDownloads = 0;
  maxUploads = 0;
  override async instanceFile(id: string, into?: BodyMemory): Promise<Buffer> {
    this.maxDownloads = Math.max(this.maxDownloads, ++this.downloading);
    try {
      return await super.instanceFile(id, into);
    } finally {
      this.downloading--;
    }
  }
  override async upload(bytes: Buffer): Promise<UploadResult> {
    this.maxUploads = Math.max(this.maxUploads, ++this.uploading);
    try {
      return await super.upload(bytes);
    } finally {
      this.uploading--;
    }
  }
}

describe('round trips and storage of the private step (issue 17)', () => {
  const counting = (): DownloadCounter => new DownloadCounter({ url: orthanc.url, username: orthanc.username, password: orthanc.password });

  it('reads images ahead of its uploads, never with more uploads in flight than its concurrency', async () => {
    const study = await uploadQuickly(ctStudy(24));
    const client = new InFlightCounter({ url: orthanc.url, username: orthanc.username, password: orthanc.password });
    const outcome = await createPrivateStep({ concurrency: 2, readAhead: 3 }).write(await context(study, client));
    expect(outcome.details['series']).toMatchObject([{ instances: 24, uploaded: 24 }]);
    expect(client.maxUploads).toBeLessThanOrEqual(2);
    // The pass starts concurrency + readAhead workers at once; the first image is already in memory.
    expect(client.maxDownloads).toBeGreaterThan(2);
    expect(client.maxDownloads).toBeLessThanOrEqual(5);
  });

  it('reading sources into reused memory, every copy of a 40-image series is the copy of its own source', async () => {
    // Pooled memory goes round many times here (3 uploads, 3 read ahead): a source given back while
    // still read, or a download into memory still lent, would give a copy another image's bytes.
    const study = await uploadQuickly(ctStudy(40));
    const client = new InFlightCounter({ url: orthanc.url, username: orthanc.username, password: orthanc.password });
    await createPrivateStep({ concurrency: 3, readAhead: 3 }).write(await context(study, client));
    const facts = await readStudyFacts(orthanc.client, study);
    const source = facts.series.find((s) => !s.seriesDescription?.endsWith('+ kidney volumes'));
    const copy = facts.series.find((s) => s.seriesDescription?.endsWith('+ kidney volumes'));
    expect(copy?.instances).toHaveLength(40);
    for (const instance of copy?.instances ?? []) {
      const own = source?.instances.find((x) => x.instanceNumber === instance.instanceNumber);
      const [sourceBytes, copyBytes] = await Promise.all([orthanc.client.instanceFile(own?.orthancId ?? ''), orthanc.client.instanceFile(instance.orthancId)]);
      expect(compareWithSource(sourceBytes, copyBytes), `image ${instance.instanceNumber}`).toEqual({ changed: [], missing: [], added: [], metaChanged: [], sameTransferSyntax: true });
    }
  });

  it('downloads each source image once (the first one too) and records the bytes the copies added', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(4));
    const client = counting();
    const ctx = await context(study.orthancId, client);
    const outcome = await privateStep.write(ctx);
    const sources = ctx.facts.series[0]?.instances.map((i) => i.orthancId) ?? [];
    expect(sources.map((id) => client.downloads.get(id))).toEqual([1, 1, 1, 1]);
    const copies = (await orthanc.client.studySeries(study.orthancId)).find((s) => s.ID !== ctx.facts.series[0]?.orthancId);
    const copyBytes = (await orthanc.client.seriesInstances(copies?.ID as string)).reduce((n, i) => n + (i.FileSize ?? 0), 0);
    expect(copyBytes).toBeGreaterThan(0);
    expect(outcome.details['storedBytes']).toBe(copyBytes);
    expect(outcome.details['addedBytes']).toBe(copyBytes);
    // A second run adds nothing and still reports what the copies occupy.
    const again = await privateStep.write(await context(study.orthancId));
    expect(again.details['addedBytes']).toBe(0);
    expect(again.details['storedBytes']).toBe(copyBytes);
    expect((await privateStep.inspect(orthanc.client, await readStudyFacts(orthanc.client, study.orthancId))).details['storedBytes']).toBe(copyBytes);
  });

  it('with scope "series" stores one derived image per series, which verify reports as complete', async () => {
    const study = await uploadStudy(orthanc.client, { ...ctStudy(1), series: [{ modality: 'CT', images: 5, description: 'Five' }, { modality: 'MR', images: 3, description: 'Three' }] });
    const ctx = { ...(await context(study.orthancId)), settings: { srSeriesNumber: 9999, privateScope: 'series' as const } };
    const outcome = await privateStep.write(ctx);
    expect(outcome.summary).toMatch(/^2 derived series \(2 images, one per series\)/);
    const after = await readStudyFacts(orthanc.client, study.orthancId);
    const derived = after.series.filter((s) => !ctx.facts.series.some((f) => f.orthancId === s.orthancId));
    expect(derived.map((s) => s.instances.length)).toEqual([1, 1]);
    for (const s of derived) expect(readKidneyBlock(await orthanc.client.instanceFile(s.instances[0]?.orthancId as string))?.lines).toEqual(LINES);
    const stored = await privateStep.inspect(orthanc.client, after);
    expect(stored.found).toBe(true);
    // Idempotent in this scope too, and the originals stay as they were.
    expect((await privateStep.write({ ...ctx, facts: after })).alreadyPresent).toBe(true);
    // Orthanc lists a study's series in no fixed order: each original series keeps its own count.
    const counts = (series: readonly { orthancId: string; instances: readonly unknown[] }[]) => new Map(series.map((s) => [s.orthancId, s.instances.length]));
    const originals = counts(ctx.facts.series);
    expect([...originals.values()].sort()).toEqual([3, 5]);
    expect(new Map([...counts(after.series)].filter(([id]) => originals.has(id)))).toEqual(originals);
  });
});
