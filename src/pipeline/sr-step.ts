/**
 * The DICOM SR approach (issue 3): store the TID 1500 Measurement Report in the study, read the
 * stored file back from Orthanc and check it, and report the reports a study already holds.
 */
import { KidneyVolumesError, type ErrorKind } from '../errors.js';
import { UCUM } from '../dicom/codes.js';
import { decodePart10, type NaturalDataset } from '../dicom/part10.js';
import { encodeMeasurementReport, isReportFollowing, measurementReportUids, SR_SERIES_DESCRIPTION, SrSopClass, type ReportReference } from '../dicom/sr/document.js';
import { readMeasurementReport, type ReadMeasurement } from '../dicom/sr/read.js';
import { DIAMETER_KEYS, describeDiameters } from '../measurements/diameters.js';
import type { MeasurementSet } from '../measurements/model.js';
import type { OrthancClient } from '../orthanc/client.js';
import { isSourceImageSeries, type SeriesFacts, type StudyFacts } from '../study/facts.js';
import type { Step, StepContext, StoredOutcome } from './approaches.js';
import type { SrDetails, SrOutcome } from './outcomes.js';

/** The SR in Orthanc is not the one we meant to store (wrong study, other values or UIDs); `details` says where it is. */
export class SrStoreError extends KidneyVolumesError {
  /** Makes the error; the message names what was expected and what Orthanc holds. */
  constructor(kind: ErrorKind, message: string, details: Readonly<Record<string, unknown>>) {
    super(kind, message, details);
    this.name = 'SrStoreError';
  }
}

/** One measurement of a stored report, as `verify` shows it. */
export interface StoredMeasurement {
  readonly name: string;
  /** As read back: dcmjs turns DS into a number, so "125.50" reads "125.5". */
  readonly valueMl: string;
  readonly unit: string;
  /** Code meaning of the finding site, with the laterality when there is one, e.g. "Kidney (Bilateral)". */
  readonly findingSite?: string;
  /** "ellipsoid of 11.2 x 5.1 x 4.8 cm" when the volume is a "Volume of ellipsoid" estimate. */
  readonly estimate?: string;
}

/** One report found in the study's SR series. */
export interface StoredReport {
  readonly sopInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly orthancInstanceId: string;
  readonly orthancSeriesId: string;
  /** ContentDate and ContentTime as "YYYYMMDD HHMMSS": when the report was written. */
  readonly written: string;
  readonly measurements: readonly StoredMeasurement[];
  /** Set when the instance could not be read as a Measurement Report. */
  readonly problem?: string;
  /** SOP Instance UIDs of the study's images that its evidence does not list (images added after it was written). */
  readonly unlisted?: number;
  /** SOP Instance UIDs of the earlier reports it replaces (its PredecessorDocumentsSequence). */
  readonly predecessors?: readonly string[];
}

/** The SR writer step. */
export const srStep: Step<SrOutcome> = {
  approach: 'sr',
  write: writeReport,
  inspect: inspectReports,
};

/** Where an instance sits in Orthanc, and what its stored file says. */
interface Stored {
  readonly orthancInstanceId: string;
  readonly orthancSeriesId: string;
  readonly dataset: NaturalDataset;
  readonly bytes: number;
}

async function writeReport(context: StepContext): Promise<SrOutcome> {
  const { client, facts, measurements, settings } = context;
  context.progress?.({ approach: 'sr', done: 0, total: 1 });
  // Our reports already in the study: earlier versions (of these measurements before the study
  // grew, or of measurements this one corrects, issue 14), or this run's own report stored by an
  // attempt that was interrupted. The UIDs follow from (study, digest, evidence, the reports before
  // it), so this run's report is the one whose UIDs follow from all the others.
  const ours = ourReports(facts);
  const own = await ownReport(client, facts, measurements.digest, settings.uidRoot, ours);
  let uids: { sopInstanceUid: string; seriesInstanceUid: string };
  let stored: Stored;
  let alreadyPresent: boolean;
  if (own) {
    uids = own.uids;
    stored = own.stored;
    alreadyPresent = true;
  } else {
    // Not in the study (a copy filed elsewhere does not count): store it, replacing every report
    // before it. A copy that arrived after the facts were read comes back AlreadyStored, with its
    // parent study to check like any other. The zone the FHIR step gives StudyTime, so ContentTime
    // and the FHIR times agree.
    uids = measurementReportUids(facts, measurements.digest, settings.uidRoot, ours);
    const timeZone = facts.timezoneOffsetFromUtc ?? settings.timeZone;
    const sameSeries = ours.filter((p) => p.seriesInstanceUid === uids.seriesInstanceUid).length;
    const report = encodeMeasurementReport({
      facts,
      measurements,
      now: context.now,
      ...(timeZone !== undefined ? { timeZone } : {}),
      options: {
        seriesNumber: settings.srSeriesNumber,
        ...(settings.uidRoot !== undefined ? { uidRoot: settings.uidRoot } : {}),
        ...(ours.length > 0 ? { predecessors: ours, instanceNumber: sameSeries + 1 } : {}),
      },
    });
    const answer = await context.uploads.upload(report.bytes, uids.sopInstanceUid);
    requireSameStudy(facts, answer.ParentStudy, answer.ID);
    stored = { orthancInstanceId: answer.ID, orthancSeriesId: answer.ParentSeries, ...(await readBack(client, answer.ID, report)) };
    alreadyPresent = answer.Status === 'AlreadyStored';
  }
  checkStored(stored, facts, measurements, uids);
  context.progress?.({ approach: 'sr', done: 1, total: 1 });
  const details: SrDetails = {
    seriesInstanceUid: uids.seriesInstanceUid,
    sopInstanceUid: uids.sopInstanceUid,
    sopClassUid: text(stored.dataset.SOPClassUID),
    orthancInstanceId: stored.orthancInstanceId,
    orthancSeriesId: stored.orthancSeriesId,
    measurementCount: measurements.measurements.length,
    storedBytes: stored.bytes,
    addedBytes: alreadyPresent ? 0 : stored.bytes,
  };
  return {
    approach: 'sr',
    summary: `SR ${uids.sopInstanceUid} in series ${uids.seriesInstanceUid} (${plural(details.measurementCount, 'measurement')})`,
    alreadyPresent,
    details,
    outputSeries: [stored.orthancSeriesId],
  };
}

/** One of our reports in the study, with its Orthanc instance ID. */
type OurReport = ReportReference & { readonly orthancId: string };

/** Our Measurement Reports in the study: the SR series we name, in SR SOP classes. */
function ourReports(facts: StudyFacts): OurReport[] {
  return facts.series
    .filter((s) => s.modality === 'SR' && s.seriesDescription === SR_SERIES_DESCRIPTION)
    .flatMap((s) =>
      s.instances
        .filter((i) => SR_SOP_CLASSES.has(i.sopClassUid))
        .map((i) => ({ seriesInstanceUid: s.seriesInstanceUid, sopInstanceUid: i.sopInstanceUid, sopClassUid: i.sopClassUid, orthancId: i.orthancId })),
    );
}

/**
 * This run's report when an earlier attempt stored it: the one of ours whose UIDs follow from the
 * others (isReportFollowing). Reports written before the UIDs followed their predecessors carry
 * the UIDs of (study, digest, evidence) alone; such a report is this run's only when it lists
 * every other report as its predecessor (it was the newest version), so a return to earlier values
 * never takes the first version's report for its own.
 */
async function ownReport(
  client: OrthancClient,
  facts: StudyFacts,
  digest: string,
  uidRoot: string | undefined,
  ours: readonly OurReport[],
): Promise<{ uids: { sopInstanceUid: string; seriesInstanceUid: string }; stored: Stored } | undefined> {
  const holder = (r: OurReport): string => facts.series.find((s) => s.seriesInstanceUid === r.seriesInstanceUid)?.orthancId ?? '';
  const following = ours.find((r) => isReportFollowing(r, ours, facts, digest, uidRoot));
  if (following) {
    const others = ours.filter((r) => r.sopInstanceUid !== following.sopInstanceUid);
    const stored = { orthancInstanceId: following.orthancId, orthancSeriesId: holder(following), ...(await download(client, following.orthancId)) };
    return { uids: measurementReportUids(facts, digest, uidRoot, others), stored };
  }
  const legacy = measurementReportUids(facts, digest, uidRoot);
  const old = ours.find((r) => r.sopInstanceUid === legacy.sopInstanceUid);
  if (!old) return undefined;
  const stored = { orthancInstanceId: old.orthancId, orthancSeriesId: holder(old), ...(await download(client, old.orthancId)) };
  const listed = new Set(predecessorsOf(stored.dataset));
  const others = ours.filter((r) => r.sopInstanceUid !== old.sopInstanceUid);
  return others.every((r) => listed.has(r.sopInstanceUid)) ? { uids: legacy, stored } : undefined;
}

/** SOP classes our reports are written in (and earlier versions may have been). */
const SR_SOP_CLASSES: ReadonlySet<string> = new Set(Object.values(SrSopClass));

/** Orthanc files an instance by PatientID and StudyInstanceUID; a different parent means the study's facts changed under us. */
function requireSameStudy(facts: StudyFacts, parentStudy: string, instanceId: string): void {
  if (parentStudy === facts.orthancId) return;
  throw new SrStoreError(
    'conflict',
    `the SR for study ${facts.studyInstanceUid} must go into Orthanc study ${facts.orthancId}, but Orthanc filed it ` +
      `under study ${parentStudy} (instance ${instanceId}; was the PatientID changed?). Remove that instance and retry.`,
    { expectedStudy: facts.orthancId, actualStudy: parentStudy, orthancInstanceId: instanceId },
  );
}

/** Compares what Orthanc returned with what we meant to store: UIDs, then every volume as a number. */
function checkStored(
  stored: Stored,
  facts: StudyFacts,
  measurements: MeasurementSet,
  uids: { sopInstanceUid: string; seriesInstanceUid: string },
): void {
  const { dataset } = stored;
  const expectedUids: ReadonlyArray<readonly [string, string]> = [
    ['SOPInstanceUID', uids.sopInstanceUid],
    ['SeriesInstanceUID', uids.seriesInstanceUid],
    ['StudyInstanceUID', facts.studyInstanceUid],
    ['SOPClassUID', SrSopClass.EnhancedSR],
  ];
  const problems = expectedUids
    .filter(([keyword, expected]) => text(dataset[keyword]) !== expected)
    .map(([keyword, expected]) => `${keyword} should be ${expected}, is ${text(dataset[keyword]) || '(empty)'}`);
  try {
    problems.push(...valueDifferences(readMeasurementReport(dataset), measurements));
  } catch (error) {
    problems.push(`it is not a readable Measurement Report: ${(error as Error).message}`);
  }
  if (problems.length === 0) return;
  throw new SrStoreError('conflict', `the SR stored in Orthanc (instance ${stored.orthancInstanceId}) differs from the measurements: ${problems.join('; ')}`, {
    orthancInstanceId: stored.orthancInstanceId,
    problems,
  });
}

/** Differences between stored volumes and the measurements, in order; values compare as numbers. */
function valueDifferences(read: readonly ReadMeasurement[], measurements: MeasurementSet): string[] {
  const expected = measurements.measurements;
  const problems: string[] = [];
  if (read.length !== expected.length) problems.push(`expected ${plural(expected.length, 'volume')}, found ${read.length}`);
  expected.forEach((m, index) => {
    const r = read[index];
    if (!r) return;
    const same = r.name === m.name && Number(r.valueMl) === Number(m.valueMl) && r.unit === UCUM.Milliliter.value && r.anatomy === m.anatomy;
    if (same && diametersDiffer(r, m)) {
      problems.push(`volume ${index + 1} ("${m.name}") should be an ellipsoid of ${m.diameters ? describeDiameters(m.diameters) : 'no diameters'}, is ${describeRead(r)}`);
    } else if (!same) {
      problems.push(
        `volume ${index + 1} should be "${m.name}" = ${m.valueMl} mL (${m.anatomy ?? 'no coded anatomy'}), ` +
          `is "${r.name}" = ${r.valueMl} ${r.unit} (${r.anatomy ?? 'no coded anatomy'})`,
      );
    }
  });
  return problems;
}

/** Whether the stored diameters and volume concept differ from the measurement's (values compare as numbers). */
function diametersDiffer(r: ReadMeasurement, m: MeasurementSet['measurements'][number]): boolean {
  if (r.ellipsoid !== (m.diameters !== undefined)) return true;
  const d = m.diameters;
  if (!d) return r.diameters !== undefined;
  return DIAMETER_KEYS.some((k) => r.diameters?.[k]?.unit !== d[k].unit || Number(r.diameters?.[k]?.value) !== Number(d[k].value));
}

function describeRead(r: ReadMeasurement): string {
  const dims = DIAMETER_KEYS.map((k) => (r.diameters?.[k] ? `${r.diameters[k]?.value} ${r.diameters[k]?.unit}` : '-')).join(' x ');
  return `${r.ellipsoid ? 'a "Volume of ellipsoid"' : 'a "Volume"'} with diameters ${dims}`;
}

async function inspectReports(client: OrthancClient, facts: StudyFacts): Promise<StoredOutcome> {
  const series = facts.series.filter((s) => s.modality === 'SR' && s.seriesDescription === SR_SERIES_DESCRIPTION);
  const reports: StoredReport[] = [];
  const images = facts.series.filter(isSourceImageSeries).flatMap((s) => s.instances.map((i) => i.sopInstanceUid));
  for (const s of series) {
    for (const instance of s.instances) reports.push(await storedReport(client, s, instance.orthancId, images));
  }
  if (reports.length === 0) {
    return { approach: 'sr', found: false, summary: `no SR series "${SR_SERIES_DESCRIPTION}" in this study`, details: { reports: [] } };
  }
  // Newest last. Each report lists every earlier one as its predecessor, so of two written in the
  // same second the one listing more is the newer.
  reports.sort((a, b) => a.written.localeCompare(b.written) || (a.predecessors?.length ?? 0) - (b.predecessors?.length ?? 0));
  const newest = reports[reports.length - 1] as StoredReport;
  const older = reports.length > 1 ? ` (and ${plural(reports.length - 1, 'older report')})` : '';
  const unlisted = newest.unlisted ?? 0;
  return {
    approach: 'sr',
    // A report that does not cover images added to the study since is out of date, not complete.
    found: newest.problem === undefined && unlisted === 0,
    summary:
      unlisted > 0
        ? `incomplete: the newest SR ${newest.sopInstanceUid} (written ${newest.written}) does not list ${plural(unlisted, 'image')} the study holds now in its evidence`
        : `SR ${newest.sopInstanceUid} written ${newest.written}: ${describeReport(newest)}${older}`,
    details: { reports },
  };
}

/** Downloads and reads one instance; a file that is not a Measurement Report is reported, not thrown. */
async function storedReport(client: OrthancClient, series: SeriesFacts, instanceId: string, images: readonly string[]): Promise<StoredReport> {
  const bytes = await client.instanceFile(instanceId);
  const base = { orthancInstanceId: instanceId, orthancSeriesId: series.orthancId, seriesInstanceUid: series.seriesInstanceUid };
  let dataset: NaturalDataset;
  try {
    dataset = decodePart10(bytes).dataset;
  } catch (error) {
    return { ...base, sopInstanceUid: '', written: '', measurements: [], problem: `not a DICOM file: ${(error as Error).message}` };
  }
  const listed = evidenceOf(dataset);
  const identity = {
    ...base,
    sopInstanceUid: text(dataset.SOPInstanceUID),
    written: `${text(dataset.ContentDate)} ${text(dataset.ContentTime)}`.trim(),
    unlisted: images.filter((uid) => !listed.has(uid)).length,
    predecessors: predecessorsOf(dataset),
  };
  try {
    return { ...identity, measurements: readMeasurementReport(dataset).map(storedMeasurement) };
  } catch (error) {
    return { ...identity, measurements: [], problem: (error as Error).message };
  }
}

/** SOP Instance UIDs a stored report lists in its CurrentRequestedProcedureEvidenceSequence. */
function evidenceOf(dataset: NaturalDataset): Set<string> {
  const listed = new Set<string>();
  for (const study of items(dataset.CurrentRequestedProcedureEvidenceSequence)) {
    for (const series of items(study.ReferencedSeriesSequence)) {
      for (const sop of items(series.ReferencedSOPSequence)) listed.add(text(sop.ReferencedSOPInstanceUID));
    }
  }
  return listed;
}

/** SOP Instance UIDs a stored report lists in its PredecessorDocumentsSequence. */
function predecessorsOf(dataset: NaturalDataset): string[] {
  return items(dataset.PredecessorDocumentsSequence).flatMap((study) =>
    items(study.ReferencedSeriesSequence).flatMap((series) => items(series.ReferencedSOPSequence).map((sop) => text(sop.ReferencedSOPInstanceUID))),
  );
}

/** The items of a naturalized sequence (dcmjs gives a single item as an object, not an array). */
function items(value: unknown): NaturalDataset[] {
  if (Array.isArray(value)) return value.filter((v): v is NaturalDataset => typeof v === 'object' && v !== null);
  return typeof value === 'object' && value !== null ? [value as NaturalDataset] : [];
}

function storedMeasurement(m: ReadMeasurement): StoredMeasurement {
  const site = m.findingSite ? `${m.findingSite.meaning}${m.laterality ? ` (${m.laterality.meaning})` : ''}` : undefined;
  const dims = m.diameters && DIAMETER_KEYS.map((k) => (m.diameters?.[k] ? `${m.diameters[k]?.value} ${m.diameters[k]?.unit}` : '?')).join(' x ');
  const estimate = m.ellipsoid ? `ellipsoid of ${dims ?? 'no diameters'}` : undefined;
  return { name: m.name, valueMl: m.valueMl, unit: m.unit, ...(site ? { findingSite: site } : {}), ...(estimate ? { estimate } : {}) };
}

function describeReport(report: StoredReport): string {
  if (report.problem) return `unreadable: ${report.problem}`;
  return report.measurements.map((m) => `${m.name} ${m.valueMl} ${m.unit}${m.estimate ? ` (${m.estimate})` : ''}${m.findingSite ? ` [${m.findingSite}]` : ''}`).join(', ');
}

/**
 * The file Orthanc serves for the instance we just stored. When it is byte for byte the file we
 * built, the dataset we built is what Orthanc holds, and decoding it again would only cost time
 * (issue 17: dcmjs's decode was 6% of the sidecar's CPU per study); checkStored then checks that
 * dataset. Any other file (a copy stored earlier under the same UIDs, AlreadyStored, or one Orthanc
 * changed on the way in) is decoded and checked value by value.
 */
async function readBack(client: OrthancClient, instanceId: string, built: { readonly bytes: Buffer; readonly dataset: NaturalDataset }): Promise<{ dataset: NaturalDataset; bytes: number }> {
  const file = await client.instanceFile(instanceId);
  return { dataset: file.equals(built.bytes) ? built.dataset : decodePart10(file).dataset, bytes: file.length };
}

async function download(client: OrthancClient, instanceId: string): Promise<{ dataset: NaturalDataset; bytes: number }> {
  const file = await client.instanceFile(instanceId);
  return { dataset: decodePart10(file).dataset, bytes: file.length };
}

/** A single string value of a naturalized element (dcmjs gives some as one-element arrays). */
function text(value: unknown): string {
  const single: unknown = Array.isArray(value) ? value[0] : value;
  return typeof single === 'string' ? single : single === undefined || single === null ? '' : String(single);
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
