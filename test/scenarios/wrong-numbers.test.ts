/**
 * Issue 12, "Wrong numbers" and "Secrets and files", as a user meets them: the real CLI and the
 * real sidecar process against a real Orthanc. Each test fails without its fix (checked by running
 * it against the code before the fix).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodePart10, encodePart10 } from '../../src/dicom/part10.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { buildSeg, type FixtureSeg } from '../fixtures/seg.js';
import { buildStudy, ctStudy, uploadStudy } from '../fixtures/studies.js';
import { runCli } from '../helpers/cli.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, type RunningSidecar } from '../helpers/sidecar-process.js';
import { startOrthanc, type TestOrthanc } from '../helpers/orthanc.js';
import { seriesCounts, waitForState } from '../sidecar/harness.js';

// Whole pipelines with the FHIR validator in child processes: slow on a loaded 2-core CI machine.
vi.setConfig({ testTimeout: 240_000 });

let sidecar: RunningSidecar;

const orthanc = useOrthanc({ StableAge: 1 });
beforeAll(async () => {
  // KV_TIMEZONE empty: the sidecar must fall back to the machine's zone and say so.
  sidecar = await runSidecar({ env: { ...orthanc.env, KV_TIMEZONE: '', TZ: 'UTC', KV_POLL_INTERVAL_MS: '100', KV_RETRY_BASE_MS: '50' } });
}, 90_000);
afterAll(async () => {
  await sidecar?.stop();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return { ...orthanc.env, KV_TIMEZONE: 'UTC', ...extra };
}

async function srCount(studyId: string): Promise<number> {
  return (await seriesCounts(orthanc.client, studyId)).srInstances;
}

describe('item 1: prototype keys as units and names', () => {
  it('"12 toString" is refused with exit 7 and nothing is written', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const file = join(mkdtempSync(join(tmpdir(), 'kv-json-')), 'm.json');
    for (const value of ['12 toString', '7 constructor', '30 hasOwnProperty']) {
      writeFileSync(file, JSON.stringify({ 'Right Kidney': value }));
      const run = await runCli(['attach', study.orthancId, '--from-json', file], env());
      expect(run.code).toBe(7);
      expect(run.stderr).toContain(`unknown unit "${value.split(' ')[1]}"`);
    }
    expect(await srCount(study.orthancId)).toBe(0);
  });

  it('measurements named "constructor" and "__proto__" go through SR, FHIR and private tags as plain names', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const run = await runCli(['attach', study.orthancId, '--right', '125', '--measure', 'constructor=7 ml', '--measure', '__proto__=8 ml', '--json'], env());
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const verify = await runCli(['verify', study.orthancId, '--json'], env());
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain('"ok":true');
  });
});

describe('item 2: SEG volumes from the distance between slices', () => {
  it('an overlapping reconstruction (2.5 mm apart, 5 mm thick) gives the right volume in the status', async () => {
    const spec = ctStudy(2);
    const study = await uploadStudy(orthanc.client, spec);
    const seg: FixtureSeg = {
      type: 'BINARY',
      rows: 10,
      columns: 10,
      pixelSpacing: [1, 1],
      sliceSpacing: 2.5,
      sliceThickness: 5,
      spacingIn: 'SliceThickness',
      segments: [{ label: 'Right kidney', coding: 'right-kidney', algorithmName: 'KidneyNet', slices: [0, 1, 2, 3].map((slice) => ({ slice, pixels: 100 })) }],
    };
    await orthanc.client.upload(buildSeg(study, spec, seg).bytes);
    const status = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 150_000);
    expect(status.state).toBe('done');
    // 400 voxels of 1 x 1 x 2.5 mm = 1.00 mL; SliceThickness would have given 2.00 mL.
    expect(status.measurements.map((m) => [m.name, m.valueMl, m.method])).toEqual([['Right Kidney', '1.00', 'segmentation']]);
  });

  it('a single-slice SEG takes SliceThickness and says so in the status', async () => {
    const spec = ctStudy(1);
    const study = await uploadStudy(orthanc.client, spec);
    const seg: FixtureSeg = {
      type: 'BINARY',
      rows: 10,
      columns: 10,
      pixelSpacing: [1, 1],
      sliceSpacing: 2.5,
      sliceThickness: 3,
      spacingIn: 'SliceThickness',
      segments: [{ label: 'Right kidney', coding: 'right-kidney', slices: [{ slice: 0, pixels: 100 }] }],
    };
    await orthanc.client.upload(buildSeg(study, spec, seg).bytes);
    const status = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 150_000);
    expect(status.measurements.map((m) => [m.valueMl, m.method])).toEqual([['0.30', 'segmentation (single slice: depth from SliceThickness)']]);
  });
});

describe('item 3: a value given twice', () => {
  it('attach --right 125 --right 130 is a usage error (exit 2) and writes nothing', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const run = await runCli(['attach', study.orthancId, '--right', '125', '--right', '130'], env());
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--right is given twice ("125" and "130"); give it once');
    expect(await srCount(study.orthancId)).toBe(0);
  });

  it('two batch rows for one study with different values both fail; the other rows run', async () => {
    const twice = await uploadStudy(orthanc.client, ctStudy(1));
    const other = await uploadStudy(orthanc.client, ctStudy(1));
    const file = join(mkdtempSync(join(tmpdir(), 'kv-batch-')), 'rows.csv');
    writeFileSync(file, `study,right,left\n${twice.studyInstanceUid},125,132\n${other.studyInstanceUid},100,101\n${twice.studyInstanceUid},130,132\n`);
    const run = await runCli(['attach', '--batch', file, '--json'], env());
    expect(run.code).toBe(12);
    const summary = JSON.parse(run.stdout) as { results: { line: number; status: string; error?: { message: string } }[] };
    expect(summary.results.map((r) => [r.line, r.status])).toEqual([
      [2, 'failed'],
      [3, 'written'],
      [4, 'failed'],
    ]);
    expect(summary.results[0]?.error?.message).toBe(`study "${twice.studyInstanceUid}" is also on line 4 with different measurements; give one row per study`);
    expect(await srCount(twice.orthancId)).toBe(0);
  });
});

describe('item 4: more digits than a DS holds', () => {
  it('the CLI refuses 125.12345678901234567 ml at parse time (exit 7), saying how many digits fit', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const run = await runCli(['attach', study.orthancId, '--right', '125.12345678901234567 ml'], env());
    expect(run.code).toBe(7);
    expect(run.stderr).toContain('has 20 significant digits (125.12345678901234567 mL); DICOM decimals (DS) hold 16 characters, so at most 15 significant digits for this value');
    expect(await srCount(study.orthancId)).toBe(0);
  });

  it('the sidecar fails such a pending mark at its first attempt with that message', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify({ 'Right Kidney': '125.12345678901234567 ml' }));
    const status = await waitForState(orthanc.client, study.orthancId, ['failed', 'done'], 30_000);
    expect(status.state).toBe('failed');
    expect(status.error).toContain('at most 15 significant digits');
    expect(await srCount(study.orthancId)).toBe(0);
  });
});

describe('item 5: one explicit time zone', () => {
  it('the sidecar warns at start when KV_TIMEZONE is not set', () => {
    const warning = sidecar
      .stdout()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['event'] === 'timezone');
    expect(warning?.['level']).toBe(40);
    expect(String(warning?.['msg'])).toContain("KV_TIMEZONE is not set: study times without TimezoneOffsetFromUTC, the SR's ContentTime and FHIR times use this machine's zone UTC");
  });

  it("the SR's ContentTime is on KV_TIMEZONE's clock like the FHIR times, whatever the machine's zone", async () => {
    // An Orthanc of its own: the sidecar above (on the machine's zone) could see attach's mark and
    // claim the study before attach does, and then the report would be the sidecar's (seen once in CI).
    const own = await startOrthanc();
    try {
      await zonedAttach(own);
    } finally {
      await own.stop();
    }
  });

  async function zonedAttach(own: TestOrthanc): Promise<void> {
    const study = await uploadStudy(own.client, ctStudy(1));
    const before = Date.now();
    const run = await runCli(['attach', study.orthancId, '--right', '125', '--approach', 'sr,fhir'], { ...own.env, KV_TIMEZONE: 'Asia/Tokyo', TZ: 'UTC' });
    expect(run.code).toBe(0);
    const sr = (await own.client.studySeries(study.orthancId)).find((s) => s.MainDicomTags['Modality'] === 'SR');
    const { dataset } = decodePart10(await own.client.instanceFile(sr!.Instances[0]!));
    // Tokyo is UTC+9 all year: the SR's wall clock is nine hours ahead of the UTC clock.
    const tokyo = new Date(before + 9 * 3600_000);
    const expected = `${tokyo.getUTCFullYear()}${String(tokyo.getUTCMonth() + 1).padStart(2, '0')}${String(tokyo.getUTCDate()).padStart(2, '0')}${String(tokyo.getUTCHours()).padStart(2, '0')}`;
    expect(`${String(dataset['ContentDate'])}${String(dataset['ContentTime']).slice(0, 2)}`).toBe(expected);
    const bundle = JSON.parse((await own.client.studyMetadata(study.orthancId, METADATA.fhir))!.value) as { entry: { resource: { resourceType: string; effectiveDateTime?: string } }[] };
    const observation = bundle.entry.find((e) => e.resource.resourceType === 'Observation');
    expect(observation?.resource.effectiveDateTime).toBe('2024-01-15T10:15:30+09:00');
  }
});

describe('item 17: HL7 file names', () => {
  it('a StudyInstanceUID like ../../../escaped writes nothing outside KV_HL7_DIR and fails the delivery naming the UID', async () => {
    // An Orthanc of its own, as in item 5: the file's sidecar must not take the study from attach.
    const own = await startOrthanc();
    try {
      await escapingUid(own);
    } finally {
      await own.stop();
    }
  });

  async function escapingUid(own: TestOrthanc): Promise<void> {
    const base = mkdtempSync(join(tmpdir(), 'kv-hl7-'));
    const dir = join(base, 'a', 'b', 'c');
    mkdirSync(dir, { recursive: true });
    const built = buildStudy(ctStudy(1));
    const uid = '../../../escaped';
    let studyId = '';
    for (const file of built.files) {
      const { dataset } = decodePart10(file);
      studyId = (await own.client.upload(encodePart10({ ...dataset, StudyInstanceUID: uid }))).ParentStudy;
    }
    const run = await runCli(['attach', studyId, '--right', '125', '--approach', 'private'], { ...own.env, KV_TIMEZONE: 'UTC', KV_HL7_DIR: dir });
    expect(run.stderr).toContain('is not a DICOM UID (digits and dots, at most 64 characters), so it cannot name the HL7 file');
    expect(run.code).not.toBe(0);
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(join(base, 'escaped_'))).toBe(false);
    expect(readdirSync(base)).toEqual(['a']);
  }
});
