import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { UploadGuard } from '../../src/pipeline/study-guard.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodePart10, encodePart10, type NaturalDataset } from '../../src/dicom/part10.js';
import { buildMeasurementReport, measurementReportUids, SR_SERIES_DESCRIPTION, SrSopClass } from '../../src/dicom/sr/document.js';
import { readMeasurementReport } from '../../src/dicom/sr/read.js';
import type { MeasurementSet } from '../../src/measurements/model.js';
import { buildSet, type MeasurementInput } from '../../src/measurements/parse.js';
import { attach, type AttachDeps } from '../../src/pipeline/attach.js';
import { mapLimit } from '../../src/pipeline/concurrency.js';
import { readStudyFacts } from '../../src/pipeline/read-facts.js';
import { outcomeFor, type SrOutcome } from '../../src/pipeline/outcomes.js';
import { srStep, SrStoreError, type StoredReport } from '../../src/pipeline/sr-step.js';
import { verify } from '../../src/pipeline/verify.js';
import type { SimplifiedTags } from '../../src/orthanc/types.js';
import { ISO_2022_JAPANESE } from '../fixtures/charsets.js';
import { ctStudy, uploadStudy, type BuiltStudy, type FixtureStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { dciodvfy, dsrdump, pixelmedSrValidator, type ValidatorReport } from '../dicom/validators.js';

/** 7 May 2024 08:09:10 local time, the clock reading every attach in this file gets unless a test moves it. */
const NOW = new Date(2024, 4, 7, 8, 9, 10);
/**
 * dcmtk 3.6.7's VR checker has no UTF-8 support and says so for every ISO_IR 192 file, ASCII-only
 * ones included (checked: the line goes away when the same file says ISO_IR 100, and -Dv does not
 * silence it). It is about the tool, not the file, so it is the one dsrdump warning tolerated.
 */
const DCMTK_NO_UTF8_CHECKER = 'W: The VR checker does not support this Specific Character Set: ISO_IR 192';
const KIDNEYS: MeasurementInput[] = [
  { name: 'Right Kidney', value: '125 mL' },
  { name: 'Left Kidney', value: '132 mL' },
];
const TOTAL: MeasurementInput = { name: 'Total Volume', value: '257 mL' };

interface Case {
  readonly label: string;
  readonly study: FixtureStudy;
  readonly volumes: readonly MeasurementInput[];
  /** SpecificCharacterSet of the source images as Orthanc stores them (none for plain ASCII). */
  readonly sourceCharset?: string;
}

const CASES: readonly Case[] = [
  {
    label: 'CT study of two series, both kidneys and a total volume',
    study: { ...ctStudy(3), series: [{ modality: 'CT', images: 3 }, { modality: 'CT', images: 2 }] },
    volumes: [...KIDNEYS, TOTAL],
  },
  {
    label: 'MR study, kidneys and named non-kidney volumes',
    study: { ...ctStudy(), series: [{ modality: 'MR', images: 2 }] },
    volumes: [...KIDNEYS, { name: 'Spleen', value: '180.5 mL' }, { name: 'Cyst 1', value: '12.25 mL' }],
  },
  {
    label: 'OT study, one named volume without a coded anatomy',
    study: { ...ctStudy(), series: [{ modality: 'OT', images: 1 }] },
    volumes: [{ name: 'Cyst 1', value: '7 mL' }],
  },
  {
    label: 'patient name in ISO 2022 Japanese',
    study: ctStudy(2, { name: 'Yamada^Tarou=山田^太郎=やまだ^たろう', charset: ISO_2022_JAPANESE }),
    volumes: KIDNEYS,
    sourceCharset: ISO_2022_JAPANESE,
  },
  {
    label: 'patient name in GB18030',
    study: ctStudy(2, { name: 'Wang^XiaoDong=王^小东=', charset: 'GB18030' }),
    volumes: [...KIDNEYS, TOTAL],
    sourceCharset: 'GB18030',
  },
  {
    label: 'patient name in ISO_IR 144 Cyrillic',
    study: ctStudy(2, { name: 'Люкceмбypг^Гaнc', charset: 'ISO_IR 144' }),
    volumes: KIDNEYS,
    sourceCharset: 'ISO_IR 144',
  },
];

interface Result {
  readonly source: BuiltStudy & { orthancId: string };
  readonly measurements: MeasurementSet;
  readonly outcome: SrOutcome;
  readonly bytes: Buffer;
  readonly sr: NaturalDataset;
  /** The first source image's tags as Orthanc gives them. */
  readonly sourceImage: SimplifiedTags;
  readonly srParentStudy: string;
  readonly validators: { dciodvfy: ValidatorReport; dsrdump: ValidatorReport; pixelmed: ValidatorReport };
}

let workDir = '';
const results = new Map<string, Result>();

function deps(now = NOW): AttachDeps {
  return { client: orthanc.client, settings: { srSeriesNumber: 9999 }, now: () => now };
}

const orthanc = useOrthanc();
beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'kv-sr-step-'));
  const attached = [];
  for (const c of CASES) attached.push(await attachCase(c));
  // Each stored file is validated once, up front, two at a time: PixelMed starts a JVM per file.
  await mapLimit(attached, 2, async (a, index) => {
    const file = join(workDir, `case-${index}.dcm`);
    writeFileSync(file, a.bytes);
    const [iod, dump, pixelmed] = await Promise.all([dciodvfy(file), dsrdump(file), pixelmedSrValidator(file)]);
    results.set(a.label, { ...a, validators: { dciodvfy: iod, dsrdump: dump, pixelmed } });
  });
  // About 55 s alone on the 2-core machine (nine PixelMed JVMs); three times that when two suites share it.
}, 420_000);

/** The SR outcome's details of an attach report. */
const srOf = (report: { readonly outcomes: Parameters<typeof outcomeFor>[0] }) => outcomeFor(report.outcomes, 'sr')?.details;

/** Uploads the case's study, attaches its measurements as SR, and downloads what Orthanc stored. */
async function attachCase(c: Case): Promise<Omit<Result, 'validators'> & { label: string }> {
  const source = await uploadStudy(orthanc.client, c.study);
  const measurements = buildSet(c.volumes);
  const outcome = outcomeFor((await attach(deps(), source.studyInstanceUid, measurements, ['sr'])).outcomes, 'sr');
  if (!outcome) throw new Error(`no SR outcome for "${c.label}"`);
  const details = outcome.details;
  const bytes = await orthanc.client.instanceFile(details.orthancInstanceId);
  const firstImage = (await orthanc.client.studySeries(source.orthancId)).find((s) => s.MainDicomTags['Modality'] !== 'SR');
  return {
    label: c.label,
    source,
    measurements,
    outcome,
    bytes,
    sr: decodePart10(bytes).dataset,
    // Orthanc's tags, not dcmjs: dcmjs cannot decode ISO 2022 files, Orthanc gives their text as UTF-8.
    sourceImage: await orthanc.client.instanceTags(firstImage?.Instances[0] ?? ''),
    srParentStudy: (await orthanc.client.series(details.orthancSeriesId)).ParentStudy,
  };
}

afterAll(async () => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

function the(c: Case): Result {
  const result = results.get(c.label);
  if (!result) throw new Error(`case "${c.label}" did not run`);
  return result;
}

/** A naturalized PN back in DICOM form, trailing empty groups dropped as PS3.5 allows. */
function personName(value: unknown): string {
  const first = (Array.isArray(value) ? value[0] : value) as { Alphabetic?: string; Ideographic?: string; Phonetic?: string } | string;
  const text = typeof first === 'string' ? first : [first.Alphabetic, first.Ideographic, first.Phonetic].map((g) => g ?? '').join('=');
  return text.replace(/=+$/, '');
}

/** Every SR instance Orthanc holds in our report series of a study. */
async function reportInstances(studyId: string): Promise<string[]> {
  const series = await orthanc.client.studySeries(studyId);
  return series
    .filter((s) => s.MainDicomTags['Modality'] === 'SR' && s.MainDicomTags['SeriesDescription'] === SR_SERIES_DESCRIPTION)
    .flatMap((s) => [...s.Instances]);
}

describe.each(CASES)('SR step against a real Orthanc: $label', (c) => {
  test('stores one Enhanced SR in the same study and says so', async () => {
    const { outcome, source, measurements, srParentStudy } = the(c);
    const n = measurements.measurements.length;
    expect(outcome.alreadyPresent).toBe(false);
    expect(outcome.summary).toMatch(new RegExp(`^SR 2\\.25\\.\\d+ in series 2\\.25\\.\\d+ \\(${n} measurements?\\)$`));
    expect(Object.keys(outcome.details).sort()).toEqual(
      ['addedBytes', 'measurementCount', 'orthancInstanceId', 'orthancSeriesId', 'seriesInstanceUid', 'sopClassUid', 'sopInstanceUid', 'storedBytes'].sort(),
    );
    // A new SR adds its own size to Orthanc's storage.
    expect(outcome.details.addedBytes).toBe(outcome.details.storedBytes);
    expect(outcome.details.storedBytes).toBeGreaterThan(0);
    expect(outcome.details).toMatchObject({
      ...measurementReportUids(await readStudyFacts(orthanc.client, source.orthancId), measurements.digest),
      sopClassUid: SrSopClass.EnhancedSR,
      measurementCount: n,
    });
    expect(srParentStudy).toBe(source.orthancId);
    expect(await reportInstances(source.orthancId)).toEqual([outcome.details.orthancInstanceId]);
  });

  test('the file Orthanc returns holds every volume with its name, value and anatomy', () => {
    const { sr, measurements } = the(c);
    const read = readMeasurementReport(sr);
    expect(read.map((m) => [m.name, Number(m.valueMl), m.unit, m.anatomy])).toEqual(
      measurements.measurements.map((m) => [m.name, Number(m.valueMl), 'mL', m.anatomy]),
    );
  });

  test('copies patient and study from the source study, the name in UTF-8 exactly as the source', () => {
    const { sr, bytes, sourceImage, source } = the(c);
    expect(sourceImage.SpecificCharacterSet ?? '').toBe(c.sourceCharset ?? 'ISO_IR 192');
    expect(sr).toMatchObject({
      SpecificCharacterSet: 'ISO_IR 192',
      PatientID: c.study.patient.id,
      StudyInstanceUID: source.studyInstanceUid,
      StudyDate: sourceImage.StudyDate,
      StudyTime: sourceImage.StudyTime,
      AccessionNumber: sourceImage.AccessionNumber,
      Modality: 'SR',
      SeriesNumber: 9999,
      SeriesDescription: SR_SERIES_DESCRIPTION,
      ContentDate: '20240507',
      ContentTime: '080910',
    });
    const name = c.study.patient.name.replace(/=+$/, '');
    expect(personName(sr.PatientName)).toBe(name);
    expect(bytes.includes(Buffer.from(name, 'utf8'))).toBe(true);
  });

  test('the evidence sequence lists every image instance of the study', () => {
    const { sr, source } = the(c);
    const evidence = sr.CurrentRequestedProcedureEvidenceSequence as NaturalDataset[];
    const series = evidence.flatMap((e) => e.ReferencedSeriesSequence as NaturalDataset[]);
    const instances = series.flatMap((s) => (s.ReferencedSOPSequence as NaturalDataset[]).map((i) => i.ReferencedSOPInstanceUID));
    expect(new Set(series.map((s) => s.SeriesInstanceUID))).toEqual(new Set(source.series.map((s) => s.seriesInstanceUid)));
    expect(instances.sort()).toEqual(source.series.flatMap((s) => s.sopInstanceUids).sort());
  });

  test('dciodvfy, dsrdump and PixelMed accept the downloaded file without errors or warnings', () => {
    const { dciodvfy: iod, dsrdump: dump, pixelmed } = the(c).validators;
    expect([...iod.errors, ...iod.warnings]).toEqual([]);
    expect(iod.output).toContain('EnhancedSR');
    expect(dump.exitCode).toBe(0);
    expect([...dump.errors, ...dump.warnings.filter((w) => w !== DCMTK_NO_UTF8_CHECKER)]).toEqual([]);
    expect(dump.output).toContain('<CONTAINER:(,,"Imaging Measurement Report")=SEPARATE>');
    expect(pixelmed.output).toContain('Found Root Template TID_1500 (MeasurementReport)');
    expect([...pixelmed.errors, ...pixelmed.warnings]).toEqual([]);
  });
});

describe('SR step: re-runs, changes and what verify shows', () => {
  test('the same measurements twice give one SR; changed ones a second, and the first stays', async () => {
    const source = await uploadStudy(orthanc.client, ctStudy(2));
    const first = await attach(deps(), source.studyInstanceUid, buildSet(KIDNEYS), ['sr']);
    const again = await attach(deps(new Date(2024, 4, 8)), source.studyInstanceUid, buildSet(KIDNEYS), ['sr']);
    expect(first.outcomes[0]?.alreadyPresent).toBe(false);
    // The second run finds the same SR and adds nothing to Orthanc's storage.
    expect(again.outcomes[0]).toMatchObject({ alreadyPresent: true, summary: first.outcomes[0]?.summary, details: { ...first.outcomes[0]?.details, addedBytes: 0 } });
    expect(await reportInstances(source.orthancId)).toHaveLength(1);

    const changed = [{ name: 'Right Kidney', value: '126 mL' }, KIDNEYS[1] as MeasurementInput, TOTAL];
    const later = await attach(deps(new Date(2024, 4, 9, 10, 0, 0)), source.studyInstanceUid, buildSet(changed), ['sr']);
    expect(later.outcomes[0]?.alreadyPresent).toBe(false);
    expect(srOf(later)?.sopInstanceUid).not.toBe(srOf(first)?.sopInstanceUid);
    const stored = await reportInstances(source.orthancId);
    expect(stored).toHaveLength(2);
    expect(stored).toContain(srOf(first)?.orthancInstanceId);

    const report = await verify(orthanc.client, source.studyInstanceUid);
    const sr = report.stored.find((s) => s.approach === 'sr');
    expect(sr?.found).toBe(true);
    const reports = sr?.details['reports'] as StoredReport[];
    // Newest last, each with its values as read back from Orthanc.
    expect(reports.map((r) => [r.sopInstanceUid, r.written])).toEqual([
      [srOf(first)?.sopInstanceUid, '20240507 080910'],
      [srOf(later)?.sopInstanceUid, '20240509 100000'],
    ]);
    expect(reports[1]?.measurements).toEqual([
      { name: 'Right Kidney', valueMl: '126', unit: 'mL', findingSite: 'Right kidney structure' },
      { name: 'Left Kidney', valueMl: '132', unit: 'mL', findingSite: 'Left kidney structure' },
      { name: 'Total Volume', valueMl: '257', unit: 'mL', findingSite: 'Kidney (Bilateral)' },
    ]);
    expect(sr?.summary).toBe(
      `SR ${String(srOf(later)?.sopInstanceUid)} written 20240509 100000: Right Kidney 126 mL [Right kidney structure], ` +
        'Left Kidney 132 mL [Left kidney structure], Total Volume 257 mL [Kidney (Bilateral)] (and 1 older report)',
    );
  });

  test('issue 14: 125, 126, then 125 again gives a third SR; running the third again finds it (as after a crash), never a fourth', async () => {
    const source = await uploadStudy(orthanc.client, ctStudy(1));
    const changed = [{ name: 'Right Kidney', value: '126 mL' }, KIDNEYS[1] as MeasurementInput, TOTAL];
    const v1 = await attach(deps(new Date(2024, 4, 7, 8, 0, 0)), source.orthancId, buildSet([...KIDNEYS, TOTAL]), ['sr']);
    const v2 = await attach(deps(new Date(2024, 4, 7, 9, 0, 0)), source.orthancId, buildSet(changed), ['sr']);
    const v3 = await attach(deps(new Date(2024, 4, 7, 10, 0, 0)), source.orthancId, buildSet([...KIDNEYS, TOTAL]), ['sr']);
    expect(v3.outcomes[0]?.alreadyPresent).toBe(false);
    const uids = [v1, v2, v3].map((v) => srOf(v)?.sopInstanceUid);
    expect(new Set(uids).size).toBe(3);
    expect(new Set([v1, v2, v3].map((v) => srOf(v)?.seriesInstanceUid)).size).toBe(3);
    // The interrupted run's retry (same facts, its report already stored) finds its own report.
    const rerun = await attach(deps(new Date(2024, 4, 7, 11, 0, 0)), source.orthancId, buildSet([...KIDNEYS, TOTAL]), ['sr']);
    expect(rerun.outcomes[0]).toMatchObject({ alreadyPresent: true, details: { sopInstanceUid: uids[2], addedBytes: 0 } });
    expect(await reportInstances(source.orthancId)).toHaveLength(3);
    const reports = ((await verify(orthanc.client, source.orthancId)).stored.find((r) => r.approach === 'sr')?.details['reports'] ?? []) as StoredReport[];
    expect(reports.map((r) => [r.sopInstanceUid, [...(r.predecessors ?? [])].sort()])).toEqual([
      [uids[0], []],
      [uids[1], [uids[0]]],
      [uids[2], [uids[0], uids[1]].sort()],
    ]);
  });

  test('issue 14: a correction\'s report stored under the earlier UID rule (study, digest, images alone) is found again, not written twice', async () => {
    const source = await uploadStudy(orthanc.client, ctStudy(1));
    const first = await attach(deps(new Date(2024, 4, 7, 8, 0, 0)), source.orthancId, buildSet(KIDNEYS), ['sr']);
    const facts = await readStudyFacts(orthanc.client, source.orthancId);
    const corrected = buildSet([{ name: 'Right Kidney', value: '126 mL' }, KIDNEYS[1] as MeasurementInput]);
    // What the earlier release wrote: the predecessor listed, the UIDs without it.
    const old = buildMeasurementReport({
      facts,
      measurements: corrected,
      now: new Date(2024, 4, 7, 9, 0, 0),
      options: { predecessors: [{ seriesInstanceUid: String(srOf(first)?.seriesInstanceUid), sopInstanceUid: String(srOf(first)?.sopInstanceUid), sopClassUid: SrSopClass.EnhancedSR }] },
    }).dataset;
    const legacy = measurementReportUids(facts, corrected.digest);
    await orthanc.client.upload(encodePart10({ ...old, SOPInstanceUID: legacy.sopInstanceUid, SeriesInstanceUID: legacy.seriesInstanceUid }));
    const rerun = await attach(deps(new Date(2024, 4, 7, 10, 0, 0)), source.orthancId, corrected, ['sr']);
    expect(rerun.outcomes[0]).toMatchObject({ alreadyPresent: true, details: legacy });
    expect(await reportInstances(source.orthancId)).toHaveLength(2);
    // The first version's report, under that same rule, is not taken for a return to its values: it does not list the correction.
    const back = await attach(deps(new Date(2024, 4, 7, 11, 0, 0)), source.orthancId, buildSet(KIDNEYS), ['sr']);
    expect(back.outcomes[0]?.alreadyPresent).toBe(false);
    expect(await reportInstances(source.orthancId)).toHaveLength(3);
  });

  test('verify says no SR is found in a study without one', async () => {
    const source = await uploadStudy(orthanc.client, ctStudy(1));
    const sr = (await verify(orthanc.client, source.orthancId)).stored.find((s) => s.approach === 'sr');
    expect(sr).toMatchObject({ found: false, summary: `no SR series "${SR_SERIES_DESCRIPTION}" in this study`, details: { reports: [] } });
  });

  test('refuses, naming both studies, when Orthanc files the SR under another study; a later run is not fooled by that copy', async () => {
    const source = await uploadStudy(orthanc.client, ctStudy(1));
    const facts = await readStudyFacts(orthanc.client, source.orthancId);
    // Orthanc keys a study by PatientID and StudyInstanceUID: a PatientID changed since the facts were read sends the SR elsewhere.
    const stale = { ...facts, patient: { ...facts.patient, patientId: 'CHANGED-ID' } };
    const error = await srStep
      .write({ client: orthanc.client, facts: stale, measurements: buildSet(KIDNEYS), now: NOW, settings: { srSeriesNumber: 9999 }, earlier: [], uploads: new UploadGuard(orthanc.client, stale) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SrStoreError);
    expect((error as SrStoreError).kind).toBe('conflict');
    expect((error as Error).message).toMatch(new RegExp(`must go into Orthanc study ${source.orthancId}, but Orthanc filed it under study [0-9a-f-]{44} `));
    expect(await reportInstances(source.orthancId)).toEqual([]);
    // The copy filed elsewhere does not count as present: a run with the right facts stores the SR in the study.
    const retry = await attach(deps(), source.orthancId, buildSet(KIDNEYS), ['sr']);
    expect(retry.outcomes[0]?.alreadyPresent).toBe(false);
    expect(await reportInstances(source.orthancId)).toEqual([srOf(retry)?.orthancInstanceId]);
  });

  test('refuses an SR already stored under the same UIDs that holds other values, and leaves it alone', async () => {
    // A report with other values under the UIDs our measurements lead to, as a faulty earlier writer could leave.
    const { source, measurements } = await studyWithImpostorReport();
    const error = await attach(deps(), source.orthancId, measurements, ['sr']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SrStoreError);
    expect((error as Error).message).toContain('expected 2 volumes, found 1');
    expect((error as Error).message).toContain('volume 1 should be "Right Kidney" = 125 mL (right-kidney), is "Right Kidney" = 999 mL (right-kidney)');
    expect(await reportInstances(source.orthancId)).toHaveLength(1);
  });
  test('issue 17: a copy that arrived after the facts were read (AlreadyStored) is decoded and checked, and refused when its values differ', async () => {
    // Stored between the facts and our upload: our upload answers AlreadyStored, and the file
    // Orthanc serves is not the one we built, so its values are what the check reads.
    const { source, facts, measurements } = await studyWithImpostorReport();
    const write = (values: MeasurementSet) =>
      srStep.write({ client: orthanc.client, facts, measurements: values, now: NOW, settings: { srSeriesNumber: 9999 }, earlier: [], uploads: new UploadGuard(orthanc.client, facts) });
    const error = await write(measurements).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SrStoreError);
    expect((error as Error).message).toContain('volume 1 should be "Right Kidney" = 125 mL (right-kidney), is "Right Kidney" = 999 mL (right-kidney)');
    // A copy with the same values written at another time (other bytes: its ContentTime) passes the same check.
    const later = await uploadStudy(orthanc.client, ctStudy(1));
    const laterFacts = await readStudyFacts(orthanc.client, later.orthancId);
    const earlierCopy = buildMeasurementReport({ facts: laterFacts, measurements, now: new Date(2024, 0, 1) }).dataset;
    await orthanc.client.upload(encodePart10(earlierCopy));
    const outcome = await srStep.write({
      client: orthanc.client,
      facts: laterFacts,
      measurements,
      now: NOW,
      settings: { srSeriesNumber: 9999 },
      earlier: [],
      uploads: new UploadGuard(orthanc.client, laterFacts),
    });
    expect(outcome).toMatchObject({ alreadyPresent: true, details: { sopInstanceUid: measurementReportUids(laterFacts, measurements.digest).sopInstanceUid, addedBytes: 0 } });
  });
});

/** A one-image study with a report of other values (Right Kidney 999 mL) already stored under the UIDs our KIDNEYS report gets. */
async function studyWithImpostorReport() {
  const source = await uploadStudy(orthanc.client, ctStudy(1));
  const facts = await readStudyFacts(orthanc.client, source.orthancId);
  const measurements = buildSet(KIDNEYS);
  const impostor = buildMeasurementReport({ facts, measurements: buildSet([{ name: 'Right Kidney', value: '999 mL' }]), now: NOW }).dataset;
  const uids = measurementReportUids(facts, measurements.digest);
  await orthanc.client.upload(encodePart10({ ...impostor, SOPInstanceUID: uids.sopInstanceUid, SeriesInstanceUID: uids.seriesInstanceUid }));
  return { source, facts, measurements };
}
