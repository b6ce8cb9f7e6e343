/**
 * What each writer step and each delivery hands on: one discriminated union, by `approach`, whose
 * `details` say exactly what was written (or found) and verified. `details` is what the sidecar's
 * status keeps under outputs[approach] (with the summary), so its keys are part of that JSON.
 */
import type { Bundle } from '@medplum/fhirtypes';
import type { DeliveryOutcome, WrittenOutputs } from '../delivery/context.js';
import type { SupersededReport } from './superseded.js';

/** The fields every outcome has, for one approach and its details. */
export interface OutcomeOf<A extends string, D> {
  readonly approach: A;
  /** One line for people, e.g. "SR 1.2.3 in series 4.5.6 (3 measurements)". */
  readonly summary: string;
  /** True when an earlier run had already written exactly this. */
  readonly alreadyPresent: boolean;
  readonly details: D;
  /** Orthanc IDs of the series this outcome's instances sit in (so later checks tell our series from new ones). */
  readonly outputSeries?: readonly string[];
}

/** The SR stored in the study (ours, or another system's that the measurements were read from), read back. */
export interface SrDetails {
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
  readonly orthancInstanceId: string;
  readonly orthancSeriesId: string;
  readonly measurementCount: number;
  /** Size of the SR file in Orthanc, and what this run added (0 when it was there already). */
  readonly storedBytes: number;
  readonly addedBytes: number;
}

/** Another system's SR is the study's SR (issue 16): nothing was written, its volumes were checked. */
export interface VendorSrDetails extends SrDetails {
  readonly writtenBy: 'another system';
  readonly manufacturer: string;
  readonly observer: string;
}

/** The FHIR Bundle kept in study metadata, read back and compared with the measurements. */
export interface FhirDetails {
  readonly observations: number;
  /** Same as storedBytes (kept for readers of the status written before storedBytes existed). */
  readonly bytes: number;
  readonly storedBytes: number;
  readonly addedBytes: number;
  readonly bundleIdentifier: string;
  /** How many Observations the stored Bundle holds in each status (final, amended, entered-in-error; issue 14). */
  readonly statuses: Readonly<Record<string, number>>;
}

/** One derived series as verified in Orthanc. */
export interface VerifiedCopy {
  readonly sourceSeriesInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly orthancId: string;
  readonly instances: number;
  readonly uploaded: number;
  /** Bytes the copies occupy in Orthanc (their files' sizes). */
  readonly storedBytes: number;
  /** Creator slot found on read-back, e.g. "(0011,0011)". */
  readonly creatorSlot: string;
}

/** The derived series carrying the private block, each counted in Orthanc and its first image read back. */
export interface PrivateDetails {
  readonly creator: string;
  readonly scope: 'image' | 'series';
  readonly lines: readonly string[];
  readonly series: readonly VerifiedCopy[];
  /** What this run added to Orthanc's storage, and what the copies occupy in all. */
  readonly addedBytes: number;
  readonly storedBytes: number;
  /** The derived series of older versions: deleted, or kept and why (issue 14). */
  readonly superseded?: SupersededReport;
}

/** The images already carry the original tool's block (issue 16): nothing was copied. */
export interface LegacyImagesDetails {
  readonly writtenBy: 'the original tool';
  readonly seriesInstanceUid: string;
  readonly orthancSeriesId: string;
  readonly creator: string;
}

/** The SR step's outcome. */
export type SrOutcome = OutcomeOf<'sr', SrDetails>;
/** The SR outcome when another system's SR is the study's SR. */
export type VendorSrOutcome = OutcomeOf<'sr', VendorSrDetails>;
/** The FHIR step's outcome; `bundle` is the Bundle built (for --fhir-out and --fhir-server), never printed or kept in the status. */
export interface FhirOutcome extends OutcomeOf<'fhir', FhirDetails> {
  /** The Bundle of this version; when alreadyPresent, rebuilt from the stored one (same statuses, `issued` and timestamp). */
  readonly bundle: Bundle;
}
/** The private step's outcome. */
export type PrivateOutcome = OutcomeOf<'private', PrivateDetails>;
/** The private outcome when the images already carry the original tool's block. */
export type LegacyImagesOutcome = OutcomeOf<'private', LegacyImagesDetails>;

/** What one writer step wrote (or found already written) and verified. */
export type WriterOutcome = SrOutcome | VendorSrOutcome | FhirOutcome | PrivateOutcome | LegacyImagesOutcome;

/** What one step wrote and verified, or what one delivery sent (src/delivery). */
export type StepOutcome = WriterOutcome | DeliveryOutcome;

/** The outcome of one approach or delivery, narrowed to its type; undefined when it did not run. */
export function outcomeFor<A extends StepOutcome['approach']>(outcomes: readonly StepOutcome[], approach: A): Extract<StepOutcome, { approach: A }> | undefined {
  return outcomes.find((o): o is Extract<StepOutcome, { approach: A }> => o.approach === approach);
}

/** Bytes an outcome added to Orthanc's storage: 0 for deliveries and for outputs that another system or tool wrote. */
export function addedBytesOf(outcome: StepOutcome): number {
  switch (outcome.approach) {
    case 'sr':
    case 'fhir':
      return outcome.details.addedBytes;
    case 'private':
      return 'addedBytes' in outcome.details ? outcome.details.addedBytes : 0;
    default:
      return 0;
  }
}

/** What the deliveries may send: the SR and the derived series this run stored. */
export function writtenOutputs(outcomes: readonly StepOutcome[]): WrittenOutputs {
  const sr = outcomeFor(outcomes, 'sr')?.details;
  const copies = outcomeFor(outcomes, 'private')?.details;
  const fhir = outcomeFor(outcomes, 'fhir');
  return {
    ...(sr !== undefined ? { sr: { orthancInstanceId: sr.orthancInstanceId, sopInstanceUid: sr.sopInstanceUid } } : {}),
    ...(fhir !== undefined ? { fhirBundle: fhir.bundle } : {}),
    derivedSeries: copies !== undefined && 'series' in copies ? copies.series.map((s) => ({ orthancId: s.orthancId, seriesInstanceUid: s.seriesInstanceUid, instances: s.instances })) : [],
  };
}

/** An outcome as printed (--json), logged and kept in the status: everything but the FHIR Bundle (kilobytes, written by --fhir-out). */
export type OutcomeRecord = Exclude<StepOutcome, FhirOutcome> | OutcomeOf<'fhir', FhirDetails>;

/** The outcome without the FHIR Bundle. */
export function outcomeRecord(outcome: StepOutcome): OutcomeRecord {
  if (outcome.approach !== 'fhir') return outcome;
  const { bundle: _bundle, ...record } = outcome;
  return record;
}
