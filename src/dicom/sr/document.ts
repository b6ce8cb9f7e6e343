/**
 * The kidney-volume Measurement Report as a whole Enhanced SR document (PS3.3 section A.35.2):
 * facts and measurements in, a dataset or Part-10 bytes out. Pure: the clock comes in as `now`.
 */
import { createHash } from 'node:crypto';
import { encodePart10, type NaturalDataset } from '../part10.js';
import { SEGMENTATION_SOP_CLASS_UID } from '../sop-classes.js';
import { stableUid } from '../../uids.js';
import type { Measurement, MeasurementSet } from '../../measurements/model.js';
import { structureKey } from '../../measurements/anatomy.js';
import { isSourceImageSeries, type StudyFacts } from '../../study/facts.js';
import { studyIdentity } from '../../study/identity.js';
import { findingSiteOf } from './finding-sites.js';
import { codeSequence } from './content-items.js';
import { dicomDate, dicomTime, evidenceSequence, generalStudyModule, patientModule, procedureReportedFor } from './header.js';
import { tid1500MeasurementReport, type DeviceObserver, type MeasurementGroupInput } from './templates.js';

/** SR storage SOP classes (PS3.4 Annex B.5). Basic Text SR is absent on purpose: it may not hold NUM items. */
export const SrSopClass = {
  EnhancedSR: '1.2.840.10008.5.1.4.1.1.88.22',
  ComprehensiveSR: '1.2.840.10008.5.1.4.1.1.88.33',
} as const;

/** The SeriesDescription of every report we write, which also tells people (and us) what the series is. */
export const SR_SERIES_DESCRIPTION = 'Kidney Volume Measurements';
/** The SeriesNumber used unless configured: high, so the report sorts after the images. */
export const DEFAULT_SR_SERIES_NUMBER = 9999;
/** This tool as the observing device, unless configured otherwise. */
export const DEFAULT_DEVICE_NAME = 'kidney-volumes';

/** How the report identifies itself; everything optional. */
export interface MeasurementReportOptions {
  /** Organisation UID root; UIDs are `2.25.` UIDs without one. */
  readonly uidRoot?: string;
  readonly seriesNumber?: number;
  readonly deviceName?: string;
  readonly manufacturer?: string;
  /** Software version, written as SoftwareVersions. */
  readonly version?: string;
  /**
   * Earlier reports this one replaces (PredecessorDocumentsSequence, PS3.3 C.17.2.2): every report
   * of ours already in the study (earlier versions, and this version's before the study grew). They
   * stay in the study; they also seed this report's UIDs (measurementReportUids).
   */
  readonly predecessors?: readonly ReportReference[];
  /** InstanceNumber; a later version of a report in the same series counts on from the earlier ones. */
  readonly instanceNumber?: number;
}

/** An SR instance a report refers to (a predecessor). */
export interface ReportReference {
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
}

/** Everything a report is made from. */
export interface MeasurementReportInput {
  readonly facts: StudyFacts;
  readonly measurements: MeasurementSet;
  /** When the report is written (ContentDate/ContentTime); passed in, never read from the clock. */
  readonly now: Date;
  /** Zone of ContentDate/ContentTime: the study's TimezoneOffsetFromUTC or KV_TIMEZONE; this machine's without one. */
  readonly timeZone?: string;
  readonly options?: MeasurementReportOptions;
}

/** A built report and the UIDs the pipeline uses to find it in Orthanc. */
export interface BuiltMeasurementReport {
  readonly dataset: NaturalDataset;
  readonly sopInstanceUid: string;
  readonly seriesInstanceUid: string;
}

/** The same report as Part-10 bytes. */
export interface EncodedMeasurementReport extends BuiltMeasurementReport {
  readonly bytes: Buffer;
}

/**
 * The UIDs of the report that follows `earlier` (our reports already in the study, which it lists
 * as predecessors), stable for (Orthanc study, measurement digest, evidence, earlier reports):
 * writing the same measurements on the same images after the same reports gives the same SOP
 * Instance UID (Orthanc answers AlreadyStored), so a run that finds its own report (see
 * `isReportFollowing`) never writes a second one. Each version of the measurements gets its own
 * report even when it returns to earlier values (125, 130, then 125 again: the third report lists
 * the other two), and its own series unless one of the earlier reports' series is the series this
 * digest would have had after the others (a report of the same version after the study grew joins it).
 * Without earlier reports the UIDs are those of (study, digest, evidence) alone. The Orthanc study
 * (PatientID with the StudyInstanceUID) keeps two patients that share a StudyInstanceUID from
 * sharing a report.
 */
export function measurementReportUids(
  facts: StudyFacts,
  digest: string,
  uidRoot?: string,
  earlier: readonly ReportReference[] = [],
): { sopInstanceUid: string; seriesInstanceUid: string } {
  const study = studyIdentity(facts);
  const seriesAfter = (others: readonly string[]): string => stableUid(uidRoot, 'sr-series', ...study, digest, ...[...others].sort());
  const series = [...new Set(earlier.map((r) => r.seriesInstanceUid))];
  const joined = series.find((s) => s === seriesAfter(series.filter((o) => o !== s)));
  return {
    sopInstanceUid: stableUid(uidRoot, 'sr-instance', ...study, digest, evidenceDigest(facts), ...earlier.map((r) => r.sopInstanceUid).sort()),
    seriesInstanceUid: joined ?? seriesAfter(series),
  };
}

/**
 * True when `report`, one of `ours` (every report of ours in the study), is the report these
 * measurements get after the others: its UID is the one they would have been given with the others
 * as predecessors. How a run interrupted after storing its report finds it again.
 */
export function isReportFollowing(report: ReportReference, ours: readonly ReportReference[], facts: StudyFacts, digest: string, uidRoot?: string): boolean {
  const others = ours.filter((r) => r.sopInstanceUid !== report.sopInstanceUid);
  return measurementReportUids(facts, digest, uidRoot, others).sopInstanceUid === report.sopInstanceUid;
}

/** sha256 of the SOP Instance UIDs the evidence lists, sorted: which images a report is about. */
export function evidenceDigest(facts: StudyFacts): string {
  const uids = facts.series.filter(isSourceImageSeries).flatMap((s) => s.instances.map((i) => i.sopInstanceUid));
  return createHash('sha256').update(uids.sort().join('\n')).digest('hex');
}

/** PredecessorDocumentsSequence items for earlier reports of the same study. */
function predecessorSequence(studyInstanceUid: string, reports: readonly ReportReference[]): NaturalDataset[] {
  const bySeries = new Map<string, ReportReference[]>();
  for (const r of reports) bySeries.set(r.seriesInstanceUid, [...(bySeries.get(r.seriesInstanceUid) ?? []), r]);
  return [
    {
      StudyInstanceUID: studyInstanceUid,
      ReferencedSeriesSequence: [...bySeries].map(([seriesInstanceUid, items]) => ({
        SeriesInstanceUID: seriesInstanceUid,
        ReferencedSOPSequence: items.map((r) => ({ ReferencedSOPClassUID: r.sopClassUid, ReferencedSOPInstanceUID: r.sopInstanceUid })),
      })),
    },
  ];
}

/**
 * The TID 1501 Tracking Unique Identifier of a measurement: the study's identity and the measured
 * structure (src/measurements/anatomy.ts structureKey, as the FHIR Observation identifier), so that the
 * corrected volume of the right kidney is tracked as the same finding as the first one.
 */
export function trackingUidOf(facts: StudyFacts, m: Pick<Measurement, 'name' | 'anatomy'>, uidRoot?: string): string {
  return stableUid(uidRoot, 'sr-tracking', ...studyIdentity(facts), structureKey(m));
}

/** Builds the Enhanced SR dataset of a TID 1500 Measurement Report, one measurement group per volume. */
export function buildMeasurementReport(input: MeasurementReportInput): BuiltMeasurementReport {
  const { facts, measurements, now, timeZone, options = {} } = input;
  const uids = measurementReportUids(facts, measurements.digest, options.uidRoot, options.predecessors);
  const device = deviceObserver(options);
  const procedure = procedureReportedFor(facts);
  const evidence = withSegmentations(evidenceSequence(facts), facts.studyInstanceUid, measurements);
  const groups: MeasurementGroupInput[] = measurements.measurements.map((m) => ({
    trackingIdentifier: m.name,
    // What is tracked (the study's structure), not its values: every version of a kidney's volume keeps one UID (TID 1501).
    trackingUid: trackingUidOf(facts, m, options.uidRoot),
    ...(m.anatomy ? { findingSite: findingSiteOf(m.anatomy) } : {}),
    valueMl: m.valueMl,
    ...(m.segmentation ? { segmentation: m.segmentation } : {}),
    ...(m.diameters ? { diameters: m.diameters } : {}),
  }));
  const dataset: NaturalDataset = {
    // UTF-8, so names from any source character set (ISO 2022, GB18030...) survive as Orthanc gave them.
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: SrSopClass.EnhancedSR,
    SOPInstanceUID: uids.sopInstanceUid,
    InstanceCreationDate: dicomDate(now, timeZone),
    InstanceCreationTime: dicomTime(now, timeZone),
    ...patientModule(facts.patient),
    ...generalStudyModule(facts),
    Modality: 'SR',
    SeriesInstanceUID: uids.seriesInstanceUid,
    SeriesNumber: options.seriesNumber ?? DEFAULT_SR_SERIES_NUMBER,
    SeriesDescription: SR_SERIES_DESCRIPTION,
    // The digest readable without recomputing UIDs: lets `verify` and people tell which measurement set this is.
    ProtocolName: `measurements sha256 ${measurements.digest.slice(0, 32)}`,
    ReferencedPerformedProcedureStepSequence: [],
    Manufacturer: device.manufacturer,
    ManufacturerModelName: device.modelName,
    ...(options.version ? { SoftwareVersions: options.version } : {}),
    InstanceNumber: options.instanceNumber ?? 1,
    ContentDate: dicomDate(now, timeZone),
    ContentTime: dicomTime(now, timeZone),
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    ...(options.predecessors && options.predecessors.length > 0 ? { PredecessorDocumentsSequence: predecessorSequence(facts.studyInstanceUid, options.predecessors) } : {}),
    PerformedProcedureCodeSequence: codeSequence(procedure),
    ...(evidence.length > 0 ? { CurrentRequestedProcedureEvidenceSequence: evidence } : {}),
    ...tid1500MeasurementReport({ device, procedureReported: procedure, groups }),
  };
  return { dataset, ...uids };
}

/** Builds the report and encodes it as Part-10 bytes (explicit VR little endian). */
export function encodeMeasurementReport(input: MeasurementReportInput): EncodedMeasurementReport {
  const built = buildMeasurementReport(input);
  return { ...built, bytes: encodePart10(built.dataset) };
}

/**
 * Adds the SEGs the measurements reference to the evidence (PS3.3 C.17.2.3: every instance the
 * content references); they are in the study but not among the image series evidenceSequence lists.
 */
function withSegmentations(evidence: NaturalDataset[], studyInstanceUid: string, measurements: MeasurementSet): NaturalDataset[] {
  const segs = new Map(measurements.measurements.flatMap((m) => (m.segmentation ? [[m.segmentation.sopInstanceUid, m.segmentation] as const] : [])));
  if (segs.size === 0) return evidence;
  const series = [...segs.values()].map((s) => ({
    SeriesInstanceUID: s.seriesInstanceUid,
    ReferencedSOPSequence: [{ ReferencedSOPClassUID: SEGMENTATION_SOP_CLASS_UID, ReferencedSOPInstanceUID: s.sopInstanceUid }],
  }));
  const study = evidence[0] ?? { StudyInstanceUID: studyInstanceUid, ReferencedSeriesSequence: [] };
  return [{ ...study, ReferencedSeriesSequence: [...(study.ReferencedSeriesSequence as NaturalDataset[]), ...series] }];
}

function deviceObserver(options: MeasurementReportOptions): DeviceObserver {
  const name = options.deviceName ?? DEFAULT_DEVICE_NAME;
  return {
    // One UID per device name: every report this tool writes names the same observer.
    uid: stableUid(options.uidRoot, 'device-observer', name),
    name,
    manufacturer: options.manufacturer ?? name,
    modelName: name,
  };
}
