/**
 * `kidney-volumes migrate` over studies already in Orthanc (issue 16, part 2), with the real CLI and
 * a real sidecar whose DICOM inputs are switched off (KV_LEGACY_TAGS=off, KV_VENDOR_SR=off), so the
 * study waits for migrate; the SR it writes is read back and validated.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { dciodvfy, dsrdump } from '../dicom/validators.js';
import { legacySeries } from '../fixtures/legacy-images.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { part10, uid, vendorSrDataset } from '../fixtures/vendor-sr.js';
import { runCli } from '../helpers/cli.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, type RunningSidecar } from '../helpers/sidecar-process.js';
import { waitForState } from '../sidecar/harness.js';

let sidecar: RunningSidecar;

const orthanc = useOrthanc({ StableAge: 1 });
beforeAll(async () => {
  sidecar = await runSidecar({ env: { ...orthanc.env, KV_POLL_INTERVAL_MS: '250', KV_LEGACY_TAGS: 'off', KV_VENDOR_SR: 'off' } });
}, 60_000);
afterAll(async () => {
  await sidecar?.stop();
});

describe('the DICOM input switches', () => {
  it('are on by default and refuse values that are not on or off', () => {
    expect(loadConfig({}).inputs).toMatchObject({ vendorSr: true, legacyTags: true });
    expect(loadConfig({ KV_VENDOR_SR: 'off', KV_LEGACY_TAGS: 'no' }).inputs).toMatchObject({ vendorSr: false, legacyTags: false });
    expect(() => loadConfig({ KV_LEGACY_TAGS: 'maybe' })).toThrow('KV_LEGACY_TAGS must be on or off, got "maybe"');
  });
});

describe('kidney-volumes migrate', () => {
  it('makes the block of stored images the measurements and writes the SR and FHIR; a second run finds them done', async () => {
    const studyInstanceUid = uid();
    const built = legacySeries({ studyInstanceUid, patientId: 'MIG-1', lines: ['Right Kidney: 150.5 ml', 'Left Kidney: 0.149 L'], layout: 'after-ge', images: 2 });
    let studyId = '';
    for (const file of built.files) studyId = (await orthanc.client.upload(file)).ParentStudy;
    const spec = ctStudy(1);
    const other = await uploadStudy(orthanc.client, spec);
    await orthanc.client.upload(part10(vendorSrDataset({ studyInstanceUid: other.studyInstanceUid, patientId: spec.patient.id, volumes: [{ site: 'right-pre', value: '99', unit: 'mL' }] })));

    // A study marked by a person after both: once it is done, the feed has passed their StableSeries.
    const witness = await uploadStudy(orthanc.client, ctStudy(1));
    await new Promise((r) => setTimeout(r, 2_500));
    await orthanc.client.putStudyMetadata(witness.orthancId, METADATA.pending, '{"Right Kidney": "100 ml"}');
    await waitForState(orthanc.client, witness.orthancId, ['done'], 60_000);
    // Switched off: neither the block nor the report was read.
    expect(await orthanc.client.studyMetadata(studyId, METADATA.pending)).toBeUndefined();
    expect(await orthanc.client.studyMetadata(other.orthancId, METADATA.pending)).toBeUndefined();

    const run = await runCli(['migrate', studyInstanceUid], orthanc.env);
    expect(run.code, run.stderr).toBe(0);
    // The running sidecar sees the mark too: whichever claims the study first writes the outputs.
    expect(run.stdout).toMatch(new RegExp(`${studyId}: marked \\((done|busy)\\): the original tool's KidneyVolInfo block at \\(0011,0011\\) of series ${built.seriesInstanceUid.replace(/\./g, '\\.')}`));
    const status = await waitForState(orthanc.client, studyId, ['done'], 60_000);
    expect(status.measurements.map((m) => [m.name, Number(m.valueMl)])).toEqual([['Right Kidney', 150.5], ['Left Kidney', 149]]);
    expect(status.origin).toMatchObject({ kind: 'legacy-tags', creator: '(0011,0011)' });
    const srId = (status.outputs?.['sr'] as { orthancInstanceId: string }).orthancInstanceId;
    const file = join(mkdtempSync(join(tmpdir(), 'kv-migrate-')), 'sr.dcm');
    writeFileSync(file, await orthanc.client.instanceFile(srId));
    const [iod, dump] = await Promise.all([dciodvfy(file), dsrdump(file)]);
    expect(iod.errors).toEqual([]);
    expect(dump.errors).toEqual([]);
    expect(dump.output).toContain('150.5');
    // Not copied again: the study holds the two original images and our SR.
    expect((await orthanc.client.studySeries(studyId)).map((s) => s.Instances.length).sort()).toEqual([1, 2]);

    const again = await runCli(['migrate', '--all', '--json'], orthanc.env);
    expect(again.code, again.stderr).toBe(0);
    const summary = JSON.parse(again.stdout) as { results: { studyId: string; outcome: string; state?: string; detail: string }[] };
    expect(summary.results.find((r) => r.studyId === studyId)).toMatchObject({ outcome: 'marked', state: 'nothing', detail: expect.stringContaining('already done') });
    expect(summary.results.find((r) => r.studyId === other.orthancId)).toMatchObject({ outcome: 'no-block' });
  }, 120_000);

  it('needs studies or --all', async () => {
    const run = await runCli(['migrate'], orthanc.env);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('migrate needs <study...> (Orthanc study ID or StudyInstanceUID) or --all');
  });
});
