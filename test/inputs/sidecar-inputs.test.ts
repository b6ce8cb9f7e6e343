/**
 * Issue 16 end to end: a real Orthanc (StableAge 1 s) and the real sidecar process. Reports of
 * another system and images of the original tool, built in the tests (dcmjs literals, dump2dcm),
 * are pushed in; the status, the stored outputs and `verify` are read back, and the SR and FHIR
 * checked with the real validators.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, ImagingStudy, Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKidneyBlock } from '../../src/dicom/private-tags/read.js';
import { SR_SERIES_DESCRIPTION } from '../../src/dicom/sr/document.js';
import { validateFhirResource } from '../helpers/fhir-validate.js';
import { parseInputs } from '../../src/measurements/origin.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import type { StudyStatus } from '../../src/status/status.js';
import { dciodvfy, dsrdump, pixelmedSrValidator } from '../dicom/validators.js';
import { legacySeries, type LegacySeriesSpec } from '../fixtures/legacy-images.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { part10, uid, vendorSrDataset, type FixtureReport } from '../fixtures/vendor-sr.js';
import { runCli } from '../helpers/cli.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, waitFor, type RunningSidecar } from '../helpers/sidecar-process.js';
import { waitForState } from '../sidecar/harness.js';

let sidecar: RunningSidecar;

const orthanc = useOrthanc({ StableAge: 1 });
beforeAll(async () => {
  sidecar = await runSidecar({ env: { ...orthanc.env, KV_POLL_INTERVAL_MS: '250', KV_REPLICA_ID: 'inputs' } });
}, 60_000);
afterAll(async () => {
  await sidecar?.stop();
});

/** A CT study in Orthanc, and a function that pushes a report of another system into it. */
async function studyWithReport(report: Omit<FixtureReport, 'studyInstanceUid' | 'patientId'>) {
  const spec = ctStudy(3);
  const study = await uploadStudy(orthanc.client, spec);
  const dataset = vendorSrDataset({ ...report, studyInstanceUid: study.studyInstanceUid, patientId: spec.patient.id });
  const answer = await orthanc.client.upload(part10(dataset));
  expect(answer.ParentStudy).toBe(study.orthancId);
  return { study, patientId: spec.patient.id, sr: { sopInstanceUid: String(dataset['SOPInstanceUID']), seriesInstanceUid: String(dataset['SeriesInstanceUID']), orthancId: answer.ID } };
}

async function saveInstance(orthancId: string, name: string): Promise<string> {
  const file = join(mkdtempSync(join(tmpdir(), 'kv-inputs-')), name);
  writeFileSync(file, await orthanc.client.instanceFile(orthancId));
  return file;
}

async function bundleOf(studyId: string): Promise<Bundle> {
  return JSON.parse((await orthanc.client.studyMetadata(studyId, METADATA.fhir))?.value ?? '{}') as Bundle;
}

function volumes(status: StudyStatus): string[] {
  return status.measurements.map((m) => `${m.name} ${Number(m.valueMl)}`);
}

describe('a TID 1500 report from another system', () => {
  it('becomes the measurements; it is the study SR (no second SR), FHIR references it, verify names it', async () => {
    const { study, sr } = await studyWithReport({
      volumes: [{ site: 'left-lat', value: '132', unit: 'cm3' }, { site: 'right-lat', value: '125.5', unit: 'cm3' }],
      personName: 'Smith^Anna',
    });
    const status = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 60_000);
    expect(status.state, status.error).toBe('done');
    expect(volumes(status)).toEqual(['Right Kidney 125.5', 'Left Kidney 132']);
    expect(status.measurements[0]).toMatchObject({ anatomy: 'right-kidney', method: 'SR: Volume', source: 'Acme AI' });
    expect(status.origin).toMatchObject({ kind: 'vendor-sr', sopInstanceUid: sr.sopInstanceUid, manufacturer: 'Acme AI', observer: 'device KidneyAI (1.2.826.0.1.3680043.9.7433.1.1), person Smith^Anna' });
    expect(status.outputs?.['sr']).toMatchObject({ sopInstanceUid: sr.sopInstanceUid, orthancInstanceId: sr.orthancId, writtenBy: 'another system', manufacturer: 'Acme AI' });

    // No SR of ours repeats it.
    const series = await orthanc.client.studySeries(study.orthancId);
    expect(series.filter((s) => s.MainDicomTags['SeriesDescription'] === SR_SERIES_DESCRIPTION)).toEqual([]);
    // The vendor's report (the study's SR) passes the validators: the fixture is a real report.
    const file = await saveInstance(sr.orthancId, 'vendor.dcm');
    const [iod, dump] = await Promise.all([dciodvfy(file), dsrdump(file)]);
    expect(iod.errors).toEqual([]);
    expect(dump.exitCode).toBe(0);
    expect(dump.errors).toEqual([]);

    // FHIR: valid R4, the ImagingStudy lists the vendor's report.
    const bundle = await bundleOf(study.orthancId);
    expect(validateFhirResource(bundle)).toEqual([]);
    const imagingStudy = bundle.entry?.map((e) => e.resource).find((r): r is ImagingStudy => r?.resourceType === 'ImagingStudy');
    expect(imagingStudy?.series?.flatMap((s) => (s.instance ?? []).map((i) => i.uid))).toContain(sr.sopInstanceUid);
    const observations = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Observation => r?.resourceType === 'Observation');
    expect(observations.map((o) => o.valueQuantity?.value)).toEqual([125.5, 132]);
    for (const o of observations) expect(o.derivedFrom).toContainEqual({ identifier: { system: 'urn:dicom:uid', value: `urn:oid:${sr.sopInstanceUid}` }, display: `DICOM SR ${sr.sopInstanceUid} (Acme AI)` });

    // The private copies follow as for a mark.
    const derived = series.find((s) => s.MainDicomTags['SeriesDescription']?.endsWith('+ kidney volumes'));
    expect(derived?.Instances).toHaveLength(3);
    expect(readKidneyBlock(await orthanc.client.instanceFile(derived!.Instances[0]!))?.volumesMl).toEqual([125.5, 132]);

    const shown = await runCli(['verify', study.studyInstanceUid], orthanc.env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`measurements from: SR ${sr.sopInstanceUid} from another system (manufacturer Acme AI, observer device KidneyAI`);
    expect(shown.stdout).toContain(`sr: SR ${sr.sopInstanceUid} from another system (manufacturer Acme AI, observer device KidneyAI (1.2.826.0.1.3680043.9.7433.1.1), person Smith^Anna) is the study's SR`);

    // The derived copy (it carries our block) is not taken as input once stable: a study marked after
    // it became stable is done only after the feed passed its StableSeries change.
    await waitFor(async () => (await orthanc.client.study(study.orthancId)).IsStable === true, 30_000, 'the study stable');
    const witness = await uploadStudy(orthanc.client, ctStudy(1));
    await orthanc.client.putStudyMetadata(witness.orthancId, METADATA.pending, '{"Right Kidney": "100 ml"}');
    await waitForState(orthanc.client, witness.orthancId, ['done'], 60_000);
    const inputs = parseInputs((await orthanc.client.studyMetadata(study.orthancId, METADATA.inputs))?.value);
    expect(inputs.notes.map((n) => `${n.source} ${n.outcome}`)).toEqual(['vendor-sr used']);
  }, 180_000);
  // Validators, the CLI and two processed studies: 40 s alone, minutes when the other test files run beside it.

  it.each([
    ['two conflicting right kidney volumes', [{ site: 'right-pre', value: '125', unit: 'mL' }, { site: 'right-lat', value: '140', unit: 'mL' }, { site: 'left-pre', value: '130', unit: 'mL' }], /2 different right-kidney volumes/],
    ['a volume whose finding site is not a kidney', [{ site: 'liver', value: '1500', unit: 'mL' }], /finding site \(10200004,SCT,"Liver"\), not a kidney/],
  ] as const)('with %s is ignored and reported in the status', async (_name, volumesGiven, reason) => {
    const { study, sr } = await studyWithReport({ volumes: volumesGiven });
    const status = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 60_000);
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(reason);
    expect(status.error).toContain(`SR ${sr.sopInstanceUid} from Acme AI ignored`);
    expect(status.inputs).toEqual([expect.objectContaining({ source: 'vendor-sr', sopInstanceUid: sr.sopInstanceUid, outcome: 'ignored' })]);
    expect(await orthanc.client.studyMetadata(study.orthancId, METADATA.pending)).toBeUndefined();
  }, 60_000);

  it("does not replace a person's mark; the status notes the report", async () => {
    const spec = ctStudy(2);
    const study = await uploadStudy(orthanc.client, spec);
    await orthanc.client.putStudyMetadata(study.orthancId, METADATA.pending, '{"Right Kidney": "140 ml", "Left Kidney": "141 ml"}');
    await waitForState(orthanc.client, study.orthancId, ['done'], 60_000);
    const dataset = vendorSrDataset({ studyInstanceUid: study.studyInstanceUid, patientId: spec.patient.id, volumes: [{ site: 'right-pre', value: '99', unit: 'mL' }] });
    await orthanc.client.upload(part10(dataset));
    let status: StudyStatus | undefined;
    await waitFor(async () => {
      status = await waitForState(orthanc.client, study.orthancId, ['done']);
      return (status.inputs ?? []).length > 0;
    }, 30_000, 'a note about the report on the status');
    expect(volumes(status!)).toEqual(['Right Kidney 140', 'Left Kidney 141']);
    expect(status!.origin).toBeUndefined();
    expect(status!.inputs).toEqual([expect.objectContaining({ outcome: 'kept-existing', reason: expect.stringContaining('marked by a person') })]);
  }, 90_000);

  it('a newer report of another system supersedes the older one', async () => {
    const { study, patientId } = await studyWithReport({ volumes: [{ site: 'right-pre', value: '120', unit: 'mL' }], contentDate: '20240116' });
    const first = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 60_000);
    expect(volumes(first)).toEqual(['Right Kidney 120']);
    const newer = vendorSrDataset({ studyInstanceUid: study.studyInstanceUid, patientId, volumes: [{ site: 'right-pre', value: '118', unit: 'mL' }], contentDate: '20240118' });
    await orthanc.client.upload(part10(newer));
    await waitFor(async () => (await waitForState(orthanc.client, study.orthancId, ['done'])).origin?.sopInstanceUid === newer['SOPInstanceUID'], 60_000, 'the newer report in use');
    expect(volumes(await waitForState(orthanc.client, study.orthancId, ['done']))).toEqual(['Right Kidney 118']);
  }, 120_000);
});

describe("images written by the original tool", () => {
  async function pushLegacy(spec: Omit<LegacySeriesSpec, 'studyInstanceUid' | 'patientId'>) {
    const studyInstanceUid = uid();
    const built = legacySeries({ ...spec, studyInstanceUid, patientId: `LEG-${Date.now()}` });
    let studyId = '';
    for (const file of built.files) studyId = (await orthanc.client.upload(file)).ParentStudy;
    return { studyId, studyInstanceUid, built };
  }

  it('with the block over GE creator (implicit VR) become the measurements: our SR and FHIR are written and valid, the images are not copied', async () => {
    const { studyId, studyInstanceUid, built } = await pushLegacy({ lines: ['Right Kidney: 125 ml', 'Left Kidney: 132 ml'], layout: 'over-ge', implicit: true, images: 3 });
    const status = await waitForState(orthanc.client, studyId, ['done', 'failed'], 60_000);
    expect(status.state, status.error).toBe('done');
    expect(volumes(status)).toEqual(['Right Kidney 125', 'Left Kidney 132']);
    expect(status.origin).toMatchObject({ kind: 'legacy-tags', seriesInstanceUid: built.seriesInstanceUid, creator: '(0011,0010)' });
    expect(status.outputs?.['private']).toMatchObject({ writtenBy: 'the original tool', seriesInstanceUid: built.seriesInstanceUid });
    const series = await orthanc.client.studySeries(studyId);
    expect(series.filter((s) => s.MainDicomTags['SeriesDescription']?.endsWith('+ kidney volumes'))).toEqual([]);

    const srId = (status.outputs?.['sr'] as { orthancInstanceId: string }).orthancInstanceId;
    const file = await saveInstance(srId, 'sr.dcm');
    const [iod, dump, pixelmed] = await Promise.all([dciodvfy(file), dsrdump(file), pixelmedSrValidator(file)]);
    expect(iod.errors).toEqual([]);
    expect(dump.exitCode).toBe(0);
    expect(dump.errors).toEqual([]);
    expect(pixelmed.output).toContain('Found Root Template TID_1500 (MeasurementReport)');
    expect([...pixelmed.errors, ...pixelmed.warnings]).toEqual([]);
    const bundle = await bundleOf(studyId);
    expect(validateFhirResource(bundle)).toEqual([]);
    const observations = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Observation => r?.resourceType === 'Observation');
    expect(observations).toHaveLength(2);
    for (const o of observations) expect(o.derivedFrom).toContainEqual(expect.objectContaining({ identifier: { system: 'urn:dicom:uid', value: `urn:oid:${built.seriesInstanceUid}` } }));

    const shown = await runCli(['verify', studyInstanceUid], orthanc.env);
    expect(shown.stdout).toContain(`private: the images already carry the original tool's KidneyVolInfo block at (0011,0010) of series ${built.seriesInstanceUid}`);
  }, 180_000);

  it('with lines the parser refuses are ignored and reported', async () => {
    const { studyId } = await pushLegacy({ lines: ['Right Kidney: 125 ml', 'Left Kidney: ???'], layout: 'plain' });
    const status = await waitForState(orthanc.client, studyId, ['done', 'failed'], 60_000);
    expect(status.state).toBe('failed');
    expect(status.error).toMatch(/KidneyVolInfo block at \(0011,0010\) .* is not acceptable/);
    expect(await orthanc.client.studyMetadata(studyId, METADATA.pending)).toBeUndefined();
  }, 60_000);
});
