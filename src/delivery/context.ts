/** What each delivery gets: the study, the measurements, what the writer steps produced, and I/O; and what it hands back. */
import type { Bundle } from '@medplum/fhirtypes';
import type { MeasurementSet } from '../measurements/model.js';
import type { OrthancClient } from '../orthanc/client.js';
import type { StudyFacts } from '../study/facts.js';
import type { DeliveryFailure } from './errors.js';
import type { RetryPolicy } from '../retry.js';

/** What the writer steps of this run stored that a delivery can send (src/pipeline/outcomes.ts builds it). */
export interface WrittenOutputs {
  /** The SR in the study (ours, or the vendor's that the measurements were read from). */
  readonly sr?: { readonly orthancInstanceId: string; readonly sopInstanceUid: string };
  /** The derived series carrying the private tags (Orthanc series IDs); empty when none were written. */
  readonly derivedSeries: readonly { readonly orthancId: string; readonly seriesInstanceUid: string; readonly instances: number }[];
  /** The FHIR Bundle of this version (the record of what changed since the previous one: the HL7 statuses come from it). */
  readonly fhirBundle?: Bundle;
}

/** Nothing written (a delivery run on its own, in tests). */
export const NOTHING_WRITTEN: WrittenOutputs = { derivedSeries: [] };

/** Inputs of one delivery. */
export interface DeliveryContext {
  readonly client: OrthancClient;
  readonly facts: StudyFacts;
  readonly measurements: MeasurementSet;
  readonly now: Date;
  /** What the writer steps of this run stored (the forward and DICOMweb deliveries send it). */
  readonly written: WrittenOutputs;
  /** Attempts and backoff per destination; failureClass decides which failures are tried again. */
  readonly retry: RetryPolicy;
}

/** One modality served by C-STORE. */
export interface ForwardedTo {
  readonly modality: string;
  readonly remoteAet: string;
  readonly instances: number;
  readonly attempts: number;
}

/** One archive served by STOW-RS. */
export interface StoredAt {
  readonly destination: string;
  readonly instances: number;
  readonly attempts: number;
}

/** What the forward delivery sent, and where. */
export interface ForwardDetails {
  readonly srSopInstanceUid?: string;
  readonly derivedSeries: readonly { readonly seriesInstanceUid: string; readonly instances: number }[];
  readonly sent: readonly ForwardedTo[];
}

/** What the DICOMweb delivery stored, and where. */
export interface DicomwebDetails {
  readonly stored: readonly StoredAt[];
}

/** The ORU^R01 sent, and where it went. */
export interface Hl7Details {
  readonly messageType: 'ORU^R01';
  readonly controlId: string;
  readonly observations: number;
  /** OBR-25: F for a first version, C for a new version of earlier results (issue 14). */
  readonly resultStatus: 'F' | 'C';
  /** The file written in KV_HL7_DIR. */
  readonly file?: string;
  /** The MLLP peer's answer. */
  readonly mllp?: { readonly peer: string; readonly ack: string; readonly text?: string; readonly attempts: number };
}

/** The fields of every delivery outcome (the same as a writer step's; nothing is ever "already present"). */
interface DeliveryOutcomeOf<A extends string, D> {
  readonly approach: A;
  readonly summary: string;
  readonly alreadyPresent: false;
  readonly details: D;
  /** Deliveries write nothing into the study. */
  readonly outputSeries?: never;
}

/** What one delivery did, by delivery. */
export type DeliveryOutcome = DeliveryOutcomeOf<'forward', ForwardDetails> | DeliveryOutcomeOf<'dicomweb', DicomwebDetails> | DeliveryOutcomeOf<'hl7', Hl7Details>;

/** What one delivery did: the outcome when every destination was served, else the failures. */
export interface DeliveryResult<O extends DeliveryOutcome = DeliveryOutcome> {
  readonly outcome: O;
  /** One line per destination served, for the error message when another one failed. */
  readonly delivered: readonly string[];
  readonly failures: readonly DeliveryFailure[];
}
