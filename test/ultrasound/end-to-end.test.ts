/**
 * Ultrasound diameters end to end (issue 16, part 3), against a real Orthanc (StableAge 1 s), the
 * real sidecar process and the real CLI process: an ultrasound SR with only diameters (built in the
 * test with dcmjs literals), a mark with diameters, and --right-dims on the command line. The SR we
 * write is checked by dciodvfy, dsrdump and PixelMed, the FHIR Bundle by the R4 validator, the
 * private block read back by its creator.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePart10, type NaturalDataset } from '../../src/dicom/part10.js';
import { readKidneyBlock } from '../../src/dicom/private-tags/read.js';
import { SR_SERIES_DESCRIPTION } from '../../src/dicom/sr/document.js';
import { readMeasurementReport } from '../../src/dicom/sr/read.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import type { StudyStatus } from '../../src/status/status.js';
import { dciodvfy, dsrdump, pixelmedSrValidator } from '../dicom/validators.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { ultrasoundSrDataset } from '../fixtures/ultrasound-sr.js';
import { part10 } from '../fixtures/vendor-sr.js';
import { runCli } from '../helpers/cli.js';
import { validateFhirResource } from '../helpers/fhir-validate.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, type RunningSidecar } from '../helpers/sidecar-process.js';
import { waitForState } from '../sidecar/harness.js';

let sidecar: RunningSidecar;

const orthanc = useOrthanc({ StableAge: 1 });
beforeAll(async () => {
  sidecar = await runSidecar({ env: { ...orthanc.env, KV_POLL_INTERVAL_MS: '250', KV_REPLICA_ID: 'ultrasound' } });
}, 60_000);
afterAll(async () => {
  await sidecar?.stop();
});

/** Our SR of the study: downloaded, validated by the three validators, read back. */
async function checkedSr(studyId: string): Promise<NaturalDataset> {
  const series = (await orthanc.client.studySeries(studyId)).filter((s) => s.MainDicomTags['SeriesDescription'] === SR_SERIES_DESCRIPTION);
  expect(series).toHaveLength(1);
  const bytes = await orthanc.client.instanceFile(series[0]!.Instances[0]!);
  const file = join(mkdtempSync(join(tmpdir(), 'kv-us-e2e-')), 'sr.dcm');
  writeFileSync(file, bytes);
  const [iod, dump, pixelmed] = await Promise.all([dciodvfy(file), dsrdump(file), pixelmedSrValidator(file)]);
  expect(iod.errors).toEqual([]);
  expect(dump.exitCode).toBe(0);
  expect(dump.errors).toEqual([]);
  expect(pixelmed.output).toContain('Found Root Template TID_1500 (MeasurementReport)');
  expect([...pixelmed.errors, ...pixelmed.warnings]).toEqual([]);
  return decodePart10(bytes).dataset;
}

async function observations(studyId: string): Promise<Observation[]> {
  const bundle = JSON.parse((await orthanc.client.studyMetadata(studyId, METADATA.fhir))?.value ?? '{}') as Bundle;
  expect(validateFhirResource(bundle)).toEqual([]);
  return (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Observation => r?.resourceType === 'Observation');
}

async function privateBlock(studyId: string) {
  const derived = (await orthanc.client.studySeries(studyId)).find((s) => s.MainDicomTags['SeriesDescription']?.endsWith('+ kidney volumes'));
  return readKidneyBlock(await orthanc.client.instanceFile(derived!.Instances[0]!));
}

const components = (o: Observation | undefined): string[] => (o?.component ?? []).map((c) => `${c.code.coding?.[0]?.code} ${c.valueQuantity?.value} ${c.valueQuantity?.code}`);

describe('ultrasound diameters', () => {
  it('an ultrasound SR with only diameters: the ellipsoid volumes become the measurements, our SR holds diameters and Volume of ellipsoid', async () => {
    const spec = ctStudy(2);
    const study = await uploadStudy(orthanc.client, spec);
    const dataset = ultrasoundSrDataset({
      studyInstanceUid: study.studyInstanceUid,
      patientId: spec.patient.id,
      kidneys: [
        { side: 'right', length: '112', width: '51.0', depth: '48.0', unit: 'mm', siteOn: 'group' },
        { side: 'left', length: '10.9', width: '5.02', depth: '4.61', unit: 'cm', siteOn: 'num' },
      ],
    });
    await orthanc.client.upload(part10(dataset));
    const status: StudyStatus = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 60_000);
    expect(status.state, status.error).toBe('done');
    // DS values come back from the file as numbers: "51.0" is 51 (two significant digits), so the right kidney is 140.
    expect(status.measurements.map((m) => [m.name, m.valueMl, m.estimate])).toEqual([
      ['Right Kidney', '140', 'ellipsoid of 112 x 51 x 48 mm'],
      ['Left Kidney', '132', 'ellipsoid of 10.9 x 5.02 x 4.61 cm'],
    ]);
    expect(status.origin).toMatchObject({ kind: 'vendor-sr', sopInstanceUid: dataset['SOPInstanceUID'], manufacturer: 'Sono Vendor' });

    // The report lacks the volumes, so it is not the study's SR: ours is written beside it.
    const sr = await checkedSr(study.orthancId);
    const read = readMeasurementReport(sr);
    expect(read.map((m) => [m.name, Number(m.valueMl), m.ellipsoid, m.diameters?.length?.value, m.diameters?.length?.unit])).toEqual([
      ['Right Kidney', 140, true, '112', 'mm'],
      ['Left Kidney', 132, true, '10.9', 'cm'],
    ]);

    const [right, left] = await observations(study.orthancId);
    expect(right?.method?.coding?.[0]).toMatchObject({ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '121221' });
    expect(components(right)).toEqual(['410668003 112 mm', '103355008 51 mm', '131197000 48 mm']);
    expect(components(left)).toEqual(['410668003 10.9 cm', '103355008 5.02 cm', '131197000 4.61 cm']);
    expect(right?.derivedFrom).toContainEqual(expect.objectContaining({ identifier: { system: 'urn:dicom:uid', value: `urn:oid:${String(dataset['SOPInstanceUID'])}` } }));

    const block = await privateBlock(study.orthancId);
    expect(block?.lines).toEqual(['Right Kidney: 140 ml', 'Left Kidney: 132 ml']);
    expect(block?.estimates).toEqual([
      { index: 0, text: 'ellipsoid estimate pi/6 x L x W x D: 112 x 51 x 48 mm', diametersMm: [112, 51, 48] },
      { index: 1, text: 'ellipsoid estimate pi/6 x L x W x D: 10.9 x 5.02 x 4.61 cm', diametersMm: [109, 50.2, 46.1] },
    ]);

    const shown = await runCli(['verify', study.studyInstanceUid], orthanc.env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('Right Kidney 140 mL (ellipsoid of 112 mm x 51 mm x 48 mm) [Right kidney structure]');
  }, 180_000);

  it('a mark with diameters through the sidecar: the same outputs, and a volume given directly keeps its own', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(2));
    await orthanc.client.putStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify({ 'Right Kidney': { length: '11.2 cm', width: '5.10 cm', depth: '4.80 cm' }, 'Left Kidney': '132 ml' }));
    const status = await waitForState(orthanc.client, study.orthancId, ['done', 'failed'], 60_000);
    expect(status.state, status.error).toBe('done');
    expect(status.measurements.map((m) => [m.name, m.valueMl, m.estimate ?? null])).toEqual([
      ['Right Kidney', '144', 'ellipsoid of 11.2 x 5.10 x 4.80 cm'],
      ['Left Kidney', '132', null],
    ]);
    const read = readMeasurementReport(await checkedSr(study.orthancId));
    expect(read.map((m) => [m.name, Number(m.valueMl), m.ellipsoid, m.diameters === undefined])).toEqual([
      ['Right Kidney', 144, true, false],
      ['Left Kidney', 132, false, true],
    ]);
    const [right, left] = await observations(study.orthancId);
    expect(components(right)).toEqual(['410668003 11.2 cm', '103355008 5.1 cm', '131197000 4.8 cm']);
    expect(left?.component).toBeUndefined();
    expect(left?.method).toBeUndefined();
    expect((await privateBlock(study.orthancId))?.estimates).toEqual([{ index: 0, text: 'ellipsoid estimate pi/6 x L x W x D: 11.2 x 5.10 x 4.80 cm', diametersMm: [112, 51, 48] }]);
  }, 120_000);

  it('--right-dims through the real CLI writes the estimate; a bad dims text is a usage error naming the rule', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const run = await runCli(['attach', study.studyInstanceUid, '--right-dims', '11.2x5.1x4.8cm', '--left', '132', '--approach', 'sr,fhir', '--json'], orthanc.env);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { measurements: { measurements: { name: string; valueMl: string; diameters?: unknown }[] } };
    expect(report.measurements.measurements.map((m) => [m.name, m.valueMl, m.diameters !== undefined])).toEqual([['Right Kidney', '140', true], ['Left Kidney', '132', false]]);
    const read = readMeasurementReport(await checkedSr(study.orthancId));
    expect(read[0]).toMatchObject({ name: 'Right Kidney', ellipsoid: true, diameters: { length: { value: '11.2', unit: 'cm' } } });

    const text = await runCli(['attach', study.studyInstanceUid, '--right-dims', '11.2x5.1x4.8cm', '--approach', 'sr'], orthanc.env);
    expect(text.stdout).toContain('140 mL  (right-kidney)  ellipsoid of 11.2 x 5.1 x 4.8 cm');

    const bad = await runCli(['attach', study.studyInstanceUid, '--right-dims', '11.2x5.1cm'], orthanc.env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('"Right Kidney": diameters must be three lengths');
    const both = await runCli(['attach', study.studyInstanceUid, '--right', '140', '--right-dims', '11.2x5.1x4.8cm'], orthanc.env);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--right and --right-dims both give the right kidney');
    // Four CLI processes and three validators: 75 s alone, over 120 s at a load of 30 on two cores.
  }, 300_000);

  it('a batch file with a "right dims" column through the real CLI', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const file = join(mkdtempSync(join(tmpdir(), 'kv-us-batch-')), 'worklist.csv');
    writeFileSync(file, `study,right dims,left\n${study.studyInstanceUid},112x51x48 mm,132\n`);
    const run = await runCli(['attach', '--batch', file, '--approach', 'sr'], orthanc.env);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const read = readMeasurementReport(await checkedSr(study.orthancId));
    expect(read.map((m) => [m.name, Number(m.valueMl), m.ellipsoid])).toEqual([['Right Kidney', 140, true], ['Left Kidney', 132, false]]);
  }, 120_000);
});
