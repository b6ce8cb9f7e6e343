// Issue 12, items 6, 7, 10, 14 (verify) and 15 through the real CLI process and a real Orthanc:
// a StudyInstanceUID held under two PatientIDs, an empty PatientID, a study without images, a
// done study that grows.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodePart10 } from '../../src/dicom/part10.js';
import { newUid } from '../../src/uids.js';
import { EXIT_CODES } from '../../src/errors.js';
import { encodePart10 } from '../../src/dicom/part10.js';
import { buildStudy, ctStudy, uploadStudy } from '../fixtures/studies.js';
import { runCli } from '../helpers/cli.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { seriesCounts } from '../sidecar/harness.js';
import { dciodvfy, dsrdump } from '../dicom/validators.js';

const orthanc = useOrthanc();

/** The stored SR's dataset (the study's only SR instance). */
async function srOf(studyId: string): Promise<Record<string, unknown>> {
  const series = (await orthanc.client.studySeries(studyId)).filter((s) => s.MainDicomTags['Modality'] === 'SR');
  expect(series.flatMap((s) => s.Instances)).toHaveLength(1);
  return decodePart10(await orthanc.client.instanceFile(series[0]?.Instances[0] as string)).dataset as Record<string, unknown>;
}

/** The derived (private-tag) series of a study: SeriesInstanceUID and instance count. */
async function derivedSeries(studyId: string): Promise<{ uid: string; instances: string[] }[]> {
  return (await orthanc.client.studySeries(studyId))
    .filter((s) => (s.MainDicomTags['SeriesDescription'] ?? '').endsWith('+ kidney volumes'))
    .map((s) => ({ uid: s.MainDicomTags['SeriesInstanceUID'] ?? '', instances: [...s.Instances] }));
}

describe('one StudyInstanceUID under two PatientIDs', () => {
  it('attach and verify refuse the UID, naming both Orthanc studies and PatientIDs; by Orthanc ID each study gets its own outputs', { timeout: 240_000 }, async () => {
    const first = await uploadStudy(orthanc.client, ctStudy(2, { id: 'PID-OLD' }));
    const second = await uploadStudy(orthanc.client, { ...ctStudy(2, { id: 'PID-NEW' }), studyInstanceUid: first.studyInstanceUid });
    expect(second.orthancId).not.toBe(first.orthancId);

    for (const args of [['attach', first.studyInstanceUid, '--right', '125'], ['verify', first.studyInstanceUid]]) {
      const run = await runCli(args, orthanc.env);
      expect(run.code, run.stderr).toBe(EXIT_CODES['ambiguous-study']);
      expect(run.stderr).toContain(`StudyInstanceUID ${first.studyInstanceUid} is ambiguous`);
      for (const s of [`${first.orthancId} (PatientID "PID-OLD")`, `${second.orthancId} (PatientID "PID-NEW")`]) expect(run.stderr).toContain(s);
    }
    expect(await seriesCounts(orthanc.client, first.orthancId)).toEqual({ srInstances: 0, series: 1, instances: 2 });
    expect(await seriesCounts(orthanc.client, second.orthancId)).toEqual({ srInstances: 0, series: 1, instances: 2 });

    for (const study of [first, second]) {
      const run = await runCli(['attach', study.orthancId, '--right', '125', '--left', '132'], orthanc.env);
      expect(run.code, run.stderr).toBe(0);
      const shown = await runCli(['verify', study.orthancId], orthanc.env);
      expect(shown.code, shown.stdout).toBe(0);
    }
    const [srOne, srTwo] = [await srOf(first.orthancId), await srOf(second.orthancId)];
    expect(srOne['PatientID']).toBe('PID-OLD');
    expect(srTwo['PatientID']).toBe('PID-NEW');
    expect(srTwo['SOPInstanceUID']).not.toBe(srOne['SOPInstanceUID']);
    expect(srTwo['SeriesInstanceUID']).not.toBe(srOne['SeriesInstanceUID']);
    const [copiesOne, copiesTwo] = [await derivedSeries(first.orthancId), await derivedSeries(second.orthancId)];
    expect(copiesOne).toHaveLength(1);
    expect(copiesTwo).toHaveLength(1);
    expect(copiesTwo[0]?.uid).not.toBe(copiesOne[0]?.uid);
    expect(copiesTwo[0]?.instances).toHaveLength(2);
  });
});

describe('one approach that cannot be written', () => {
  it('an empty PatientID: SR and private copies carry it, FHIR fails alone, exit 16 lists what was written', { timeout: 240_000 }, async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(2, { id: '' }));
    const run = await runCli(['attach', study.studyInstanceUid, '--right', '125', '--json'], orthanc.env);
    expect(run.code, run.stderr).toBe(EXIT_CODES['study-data']);
    const answer = JSON.parse(run.stdout) as { ok: boolean; error: { kind: string; message: string }; written: { approach: string }[]; failures: { approach: string }[] };
    expect(answer.ok).toBe(false);
    expect(answer.error.kind).toBe('study-data');
    expect(answer.written.map((o) => o.approach)).toEqual(['sr', 'private']);
    expect(answer.failures.map((f) => f.approach)).toEqual(['fhir']);
    expect(answer.error.message).toContain("the study's PatientID is empty");
    expect(run.stderr).toContain('Written and verified: sr (SR ');

    const text = await runCli(['attach', study.studyInstanceUid, '--right', '125'], orthanc.env);
    expect(text.code).toBe(EXIT_CODES['study-data']);
    expect(text.stdout).toMatch(/^sr: already present, verified: SR /m);
    expect(text.stdout).toMatch(/^private: already present, verified: 1 derived series/m);
    expect(text.stdout).toMatch(/^fhir: FAILED \(study-data\): FHIR Bundle not written .* PatientID is empty/m);

    expect((await srOf(study.orthancId))['PatientID'] ?? '').toBe('');
    const [copy] = await derivedSeries(study.orthancId);
    const tags = await orthanc.client.instanceTags(copy?.instances[0] as string);
    expect(tags['PatientID'] ?? '').toBe('');
    expect(await orthanc.client.studyMetadata(study.orthancId, 'KidneyVolumes')).toBeUndefined();
  });

  it('a study without images: SR and FHIR are written and listed, the exit code says why private failed (not "not found")', { timeout: 240_000 }, async () => {
    const studyInstanceUid = newUid();
    const sr = encodePart10({
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.88.33',
      SOPInstanceUID: newUid(),
      StudyInstanceUID: studyInstanceUid,
      SeriesInstanceUID: newUid(),
      Modality: 'SR',
      PatientID: 'PID-NO-IMAGES',
      PatientName: 'Doe^John',
      StudyDate: '20240115',
      StudyTime: '101530',
      SeriesNumber: '99',
    });
    const { ParentStudy } = await orthanc.client.upload(sr);
    const run = await runCli(['attach', studyInstanceUid, '--right', '125', '--json'], orthanc.env);
    expect(run.code, run.stderr).toBe(EXIT_CODES['study-data']);
    expect(run.code).not.toBe(EXIT_CODES['not-found']);
    const answer = JSON.parse(run.stdout) as { error: { message: string }; written: { approach: string; summary: string }[] };
    expect(answer.written.map((o) => o.approach)).toEqual(['sr', 'fhir']);
    expect(answer.error.message).toContain('has no image series to copy the private tags into');
    expect(await orthanc.client.studyMetadata(ParentStudy, 'KidneyVolumes')).toBeDefined();
  });
});

describe('a done study that grows', () => {
  it('verify exits 17 with ok false once images arrive after the outputs were written; attach then completes them', { timeout: 240_000 }, async () => {
    const spec = ctStudy(3);
    const study = await uploadStudy(orthanc.client, spec);
    expect((await runCli(['attach', study.orthancId, '--right', '125'], orthanc.env)).code).toBe(0);
    expect((await runCli(['verify', study.orthancId], orthanc.env)).code).toBe(0);

    const late = buildStudy({
      ...spec,
      studyInstanceUid: study.studyInstanceUid,
      series: [{ ...spec.series[0]!, images: 2, seriesInstanceUid: study.series[0]!.seriesInstanceUid, firstInstanceNumber: 4 }],
    });
    for (const file of late.files) await orthanc.client.upload(file);
    const run = await runCli(['verify', study.orthancId, '--json'], orthanc.env);
    expect(run.code, run.stdout).toBe(EXIT_CODES['verify-incomplete']);
    const answer = JSON.parse(run.stdout) as { ok: boolean; problems: string[] };
    expect(answer.ok).toBe(false);
    expect(answer.problems).toEqual([
      expect.stringMatching(/^sr: incomplete: the newest SR .* does not list 2 images the study holds now in its evidence$/),
      expect.stringMatching(/^private: incomplete: 1 derived series short of images/),
    ]);

    const again = await runCli(['attach', study.orthancId, '--right', '125'], orthanc.env);
    expect(again.code, again.stderr).toBe(0);
    expect((await runCli(['verify', study.orthancId], orthanc.env)).code).toBe(0);
    const reports = (await orthanc.client.studySeries(study.orthancId)).filter((s) => s.MainDicomTags['Modality'] === 'SR');
    expect(reports).toHaveLength(1);
    expect(reports[0]?.Instances).toHaveLength(2);
    // The new version lists all five images and names the report it replaces; both stay in the study.
    const versions = await Promise.all((reports[0]?.Instances ?? []).map(async (id) => decodePart10(await orthanc.client.instanceFile(id))));
    const newer = versions.find((v) => Number(v.dataset['InstanceNumber']) === 2);
    const older = versions.find((v) => Number(v.dataset['InstanceNumber']) === 1);
    const evidence = (newer?.dataset['CurrentRequestedProcedureEvidenceSequence'] as { ReferencedSeriesSequence: { ReferencedSOPSequence: unknown[] }[] }[])[0];
    expect(evidence?.ReferencedSeriesSequence[0]?.ReferencedSOPSequence).toHaveLength(5);
    const predecessor = (newer?.dataset['PredecessorDocumentsSequence'] as { ReferencedSeriesSequence: { ReferencedSOPSequence: { ReferencedSOPInstanceUID: string }[] }[] }[])[0];
    expect(predecessor?.ReferencedSeriesSequence[0]?.ReferencedSOPSequence[0]?.ReferencedSOPInstanceUID).toBe(older?.dataset['SOPInstanceUID']);
    const file = join(mkdtempSync(join(tmpdir(), 'kv-grown-')), 'sr.dcm');
    const newerId = (reports[0]?.Instances ?? []).find((_, i) => versions[i] === newer) as string;
    writeFileSync(file, await orthanc.client.instanceFile(newerId));
    expect((await dciodvfy(file)).errors).toEqual([]);
    expect((await dsrdump(file)).errors).toEqual([]);
  });
});
