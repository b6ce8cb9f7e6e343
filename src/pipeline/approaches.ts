/** The three output forms ("approaches") and the contract every writer step fulfils. */
import type { MeasurementSet } from '../measurements/model.js';
import type { OrthancClient } from '../orthanc/client.js';
import type { StudyFacts } from '../study/facts.js';
import type { Delivery, DeliverySettings } from '../delivery/settings.js';
import { UsageError } from '../errors.js';
import type { DicomOrigin } from '../measurements/origin.js';
import type { WriterOutcome } from './outcomes.js';
import type { UploadGuard } from './study-guard.js';

/** The approaches, in the order they run (the FHIR Bundle references the SR). */
export const APPROACHES = ['sr', 'fhir', 'private'] as const;
/** One approach. */
export type Approach = (typeof APPROACHES)[number];

/** Parses --approach: sr, fhir, private, all, or a comma-separated list. */
export function parseApproaches(text: string): Approach[] {
  const parts = text.split(',').map((p) => p.trim().toLowerCase());
  if (parts.includes('all')) return [...APPROACHES];
  const bad = parts.find((p) => !(APPROACHES as readonly string[]).includes(p));
  if (bad !== undefined) throw new UsageError(`--approach must be sr, fhir, private or all, got "${bad}"`);
  return parts as Approach[];
}

/** What each approach is called for people. */
export const APPROACH_TITLES: Readonly<Record<Approach, string>> = {
  sr: 'DICOM SR (TID 1500 Measurement Report)',
  fhir: 'FHIR R4 Observations',
  private: 'private tags on a derived copy of the images',
};

/** Settings the writer steps share. */
export interface WriterSettings {
  readonly uidRoot?: string;
  readonly srSeriesNumber: number;
  /**
   * Zone of StudyTime (IANA name or ±HHMM) for studies without TimezoneOffsetFromUTC; without
   * either, FHIR dates carry the StudyDate only.
   */
  readonly timeZone?: string;
  /** Where the results are sent after they are written (forward, HL7); none when absent. */
  readonly delivery?: DeliverySettings;
  /**
   * What the private-tag approach copies: every image of each series (default; the study grows by
   * its own size), or one derived image per series (small, for sites that only need the tags to
   * travel with the series).
   */
  readonly privateScope?: 'image' | 'series';
  /** Keep the derived series of older versions of the measurements (KV_KEEP_SUPERSEDED); by default they are deleted once the new ones are verified. */
  readonly keepSuperseded?: boolean;
}

/** Progress of long work, for a progress bar or a log line. */
export interface Progress {
  readonly approach: Approach;
  readonly done: number;
  readonly total: number;
}

/** Everything a step needs: facts read once, the measurements, the clock's reading, and I/O. */
export interface StepContext {
  readonly client: OrthancClient;
  readonly facts: StudyFacts;
  readonly measurements: MeasurementSet;
  readonly now: Date;
  readonly settings: WriterSettings;
  /** Outcomes of the steps that ran before this one (FHIR reads the SR's). */
  readonly earlier: readonly WriterOutcome[];
  /** The DICOM object the measurements were read from, when they were (issue 16). */
  readonly origin?: DicomOrigin;
  readonly progress?: (progress: Progress) => void;
  /** Every upload goes through it: it checks the study still exists and records what we created. */
  readonly uploads: UploadGuard;
  /** The study's metadata as read when the check began (AttachDeps.metadataSeen), when the caller had it. */
  readonly metadataSeen?: Readonly<Record<string, string>>;
}

/** The outcome types live in outcomes.ts; re-exported here beside the Step contract that returns them. */
export type { StepOutcome, WriterOutcome } from './outcomes.js';

/** What one approach finds stored for a study. */
export interface StoredOutcome {
  readonly approach: Approach;
  /** True when the output is there and complete (covers every source image the study holds now). */
  readonly found: boolean;
  readonly summary: string;
  readonly details: Readonly<Record<string, unknown>>;
}

/** One approach's writer step: write, read back, verify; and report what is stored. */
export interface Step<O extends WriterOutcome = WriterOutcome> {
  readonly approach: O['approach'];
  write(context: StepContext): Promise<O>;
  inspect(client: OrthancClient, facts: StudyFacts): Promise<StoredOutcome>;
}
