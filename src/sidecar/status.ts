/**
 * The study's KidneyVolumesStatus metadata: what the sidecar is doing or did with the pending
 * measurements. Written with compare-and-set (If-Match) so two writers never both win.
 */
import type { Measurement } from '../measurements/model.js';
import type { DicomOrigin, InputNote } from '../inputs/origin.js';
import type { StepOutcome } from '../pipeline/approaches.js';

/** States of a study's processing. `queued` is set by retry requests. */
export type StudyState = 'queued' | 'processing' | 'done' | 'failed';

/** One write to Orthanc, for the audit trail. */
export interface AuditEntry {
  readonly approach: string;
  readonly summary: string;
  readonly at: string;
  readonly alreadyPresent: boolean;
}

/** One measurement as the status records it; method, source and segmentation say where it came from. */
export type StatusMeasurement = Pick<Measurement, 'name' | 'valueMl' | 'anatomy' | 'method' | 'source' | 'segmentation'>;

/** The JSON kept in KidneyVolumesStatus. */
export interface StudyStatus {
  readonly state: StudyState;
  /** Digest of the pending measurements this status is about (sha256 of the raw text when they were invalid). */
  readonly digest: string;
  readonly measurements: readonly StatusMeasurement[];
  readonly attempts: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly finishedAt?: string;
  /** What was written, by approach (the step outcomes' details). */
  readonly outputs?: Readonly<Record<string, unknown>>;
  readonly writes?: readonly AuditEntry[];
  /** What a done run read and wrote (src/pipeline/coverage.ts): a study that grows past it is processed again. */
  readonly coverage?: unknown;
  /** A message a person can act on, when failed or waiting to retry. */
  readonly error?: string;
  readonly errorKind?: string;
  readonly nextAttemptAt?: string;
  /** Which sidecar replica holds the study, and until when (a lease). */
  readonly owner?: string;
  readonly leaseUntil?: string;
  /** The DICOM object the measurements were read from; absent when a person (or a SEG) gave them (issue 16). */
  readonly origin?: DicomOrigin;
  /** What became of DICOM inputs of the study: used, kept out by other measurements, or ignored as unsure. */
  readonly inputs?: readonly InputNote[];
}

/** Parses a stored status; undefined when it is not one of ours (treated as absent). */
export function parseStatus(text: string): StudyStatus | undefined {
  try {
    const value = JSON.parse(text) as Partial<StudyStatus>;
    if (typeof value !== 'object' || value === null) return undefined;
    if (!['queued', 'processing', 'done', 'failed'].includes(String(value.state)) || typeof value.digest !== 'string') return undefined;
    return value as StudyStatus;
  } catch {
    return undefined;
  }
}

/** The outputs and audit entries of finished steps. */
export function outputsOf(outcomes: readonly StepOutcome[], at: Date): { outputs: Record<string, unknown>; writes: AuditEntry[] } {
  const outputs: Record<string, unknown> = {};
  const writes: AuditEntry[] = [];
  for (const o of outcomes) {
    outputs[o.approach] = { summary: o.summary, ...o.details };
    writes.push({ approach: o.approach, summary: o.summary, at: at.toISOString(), alreadyPresent: o.alreadyPresent });
  }
  return { outputs, writes };
}
