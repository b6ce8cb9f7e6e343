/**
 * A TID 1500 report from another system as a source of the study's measurements (issue 16, part 1):
 * the reader's kidney volumes as a mark, or the reason the report is not used. Pure.
 */
import type { VendorReport, VendorSrReading, VendorVolume } from '../dicom/sr/ingest.js';
import { messageOf } from '../errors.js';
import { DEFAULT_NAMES } from '../measurements/anatomy.js';
import type { Anatomy } from '../measurements/model.js';
import { dicomMark, markText, type DicomMark, type DicomMarkEntry } from './mark.js';
import type { DicomOrigin } from '../measurements/origin.js';

/** Method of every measurement read from a report: the report's volume concept follows it. */
const METHOD_PREFIX = 'SR';
/** Source named when the report names neither a manufacturer nor an observer. */
const FALLBACK_SOURCE = 'DICOM SR';

const NAMES: Readonly<Partial<Record<Anatomy, string>>> = {
  'right-kidney': DEFAULT_NAMES.right,
  'left-kidney': DEFAULT_NAMES.left,
  'both-kidneys': DEFAULT_NAMES.total,
};

/** Where the report sits in Orthanc. */
export interface OrthancPlace {
  readonly orthancInstanceId: string;
  readonly orthancSeriesId: string;
}

/** What a report gives the study. */
export type VendorSrSource =
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'ignored'; readonly report: VendorReport; readonly reason: string; readonly unsure: boolean }
  | { readonly kind: 'mark'; readonly origin: DicomOrigin; readonly mark: DicomMark; readonly madeAt: string; readonly notes: readonly string[] };

/** Turns a reading into a mark through the measurement parser; a refusal is a reason, never a guess. */
export function vendorSrSource(reading: VendorSrReading, place: OrthancPlace): VendorSrSource {
  if (reading.kind === 'not-sr') return { kind: 'skip', reason: reading.reason };
  if (reading.kind === 'ours') return { kind: 'skip', reason: "one of the sidecar's own reports" };
  if (reading.kind === 'ignored') return { kind: 'ignored', report: reading.report, reason: reading.reason, unsure: false };
  if (reading.kind === 'unsure') return { kind: 'ignored', report: reading.report, reason: reading.reasons.join('; '), unsure: true };
  const { report } = reading;
  const source = markText(report.manufacturer || report.observer, FALLBACK_SOURCE);
  try {
    const mark = dicomMark(reading.volumes.map((v) => entry(v, source)));
    const origin: DicomOrigin = { kind: 'vendor-sr', ...place, sopInstanceUid: report.sopInstanceUid, seriesInstanceUid: report.seriesInstanceUid, sopClassUid: report.sopClassUid, manufacturer: report.manufacturer, observer: report.observer, contentDateTime: report.contentDateTime };
    return { kind: 'mark', origin, mark, madeAt: report.contentDateTime, notes: reading.notes };
  } catch (error) {
    return { kind: 'ignored', report, reason: `its volumes are not acceptable measurements: ${messageOf(error)}`, unsure: true };
  }
}

function entry(v: VendorVolume, source: string): DicomMarkEntry {
  return { name: NAMES[v.anatomy] ?? v.anatomy, ...(v.diameters ? { diameters: v.diameters } : { value: `${v.value} ${v.unit}` }), anatomy: v.anatomy, method: markText(`${METHOD_PREFIX}: ${v.concept.meaning || v.concept.value}`, METHOD_PREFIX), source };
}
