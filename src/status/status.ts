/**
 * The study's KidneyVolumesStatus metadata, owned here and written nowhere else: its schema (zod),
 * the state transitions allowed, and compare-and-set writes (If-Match). Every write carries a
 * version counter one above the one it replaces, so that no two writes have the same text: Orthanc
 * 1.12's ETag is the md5 of the value, and a value written back to an older one would otherwise
 * let a stale compare-and-set through (ABA).
 */
import { z } from 'zod';
import { RaceLostError } from '../errors.js';
import { ANATOMIES } from '../measurements/model.js';
import { DICOM_SOURCES, noteSchema, originSchema, PERSON_SOURCES } from '../measurements/origin.js';
import type { OrthancClient } from '../orthanc/client.js';
import { METADATA } from '../orthanc/metadata.js';
import { withRetry } from '../retry.js';

/** States of a study's processing. `queued` is set by retry requests. */
export const STUDY_STATES = ['queued', 'processing', 'done', 'failed'] as const;
/** One of STUDY_STATES. */
export type StudyState = (typeof STUDY_STATES)[number];

const isoTime = z.string().refine((s) => Number.isFinite(Date.parse(s)), { message: 'must be an ISO 8601 time' });
const count = z.number().int().nonnegative();

const measurementSchema = z.object({
  name: z.string(),
  valueMl: z.string(),
  anatomy: z.enum(ANATOMIES).optional(),
  method: z.string().optional(),
  source: z.string().optional(),
  segmentation: z.object({ seriesInstanceUid: z.string(), sopInstanceUid: z.string(), segmentNumbers: z.array(z.number().int()).readonly() }).optional(),
  /** "ellipsoid of 11.2 x 5.1 x 4.8 cm" when the volume was estimated from diameters. */
  estimate: z.string().optional(),
});

/** Where a version of the measurements came from; `mark` is a pending mark written straight into Orthanc (curl). */
export const VERSION_SOURCES = ['mark', ...PERSON_SOURCES, 'seg', ...DICOM_SOURCES] as const;
/** One of VERSION_SOURCES. */
export type VersionSource = (typeof VERSION_SOURCES)[number];

const versionSchema = z.object({
  digest: z.string(),
  /** When this version was finished (written and verified). */
  at: isoTime,
  source: z.enum(VERSION_SOURCES),
  /** The values in one line, e.g. "Right Kidney 125 mL, Left Kidney 132 mL". */
  values: z.string(),
  /**
   * The measurements in the structured mark form (src/inputs/person-mark.ts markTextOf): what the
   * HL7 delivery compares the next version with when no FHIR Bundle records it (src/inputs/released.ts).
   */
  mark: z.string().optional(),
});

const auditSchema = z.object({ approach: z.string(), summary: z.string(), at: isoTime, alreadyPresent: z.boolean() });

/** The schema of the JSON kept in KidneyVolumesStatus; unknown keys are dropped. */
export const studyStatusSchema = z.object({
  state: z.enum(STUDY_STATES),
  /** Digest of the pending measurements this status is about (sha256 of the raw text when they were invalid). */
  digest: z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 in hex'),
  measurements: z.array(measurementSchema),
  /** Claims made for this digest, the one in progress included; counted before processing starts. */
  attempts: count,
  /** Claims that ended with the process gone (killed, out of memory) rather than with an outcome. */
  crashes: count.optional(),
  /** One more than the status it replaced (absent in statuses written before it existed). */
  version: count.optional(),
  createdAt: isoTime,
  updatedAt: isoTime,
  finishedAt: isoTime.optional(),
  /** What was written, by approach (the step outcomes' details). */
  outputs: z.record(z.unknown()).optional(),
  writes: z.array(auditSchema).optional(),
  /** What a done run read and wrote (src/pipeline/coverage.ts): a study that grows past it is processed again. */
  coverage: z.unknown().optional(),
  /** Where the measurements this status is about came from (absent in statuses written before it existed). */
  source: z.enum(VERSION_SOURCES).optional(),
  /** Versions finished so far, oldest first, at most MAX_HISTORY: the newest is the current one when done. */
  history: z.array(versionSchema).readonly().optional(),
  /** A message a person can act on, when failed or waiting to retry. */
  error: z.string().optional(),
  errorKind: z.string().optional(),
  nextAttemptAt: isoTime.optional(),
  /** Which sidecar replica holds the study, and until when (a lease). */
  owner: z.string().optional(),
  leaseUntil: isoTime.optional(),
  /** A SEG that came for a study that already had measurements (recorded, not applied). */
  segmentation: z.record(z.unknown()).optional(),
  /** The DICOM object the measurements were read from; absent when a person (or a SEG) gave them (issue 16). */
  origin: originSchema.optional(),
  /** What became of DICOM inputs of the study: used, kept out by other measurements, or ignored as unsure. */
  inputs: z.array(noteSchema).readonly().optional(),
});

/** The JSON kept in KidneyVolumesStatus. */
export type StudyStatus = Readonly<z.infer<typeof studyStatusSchema>>;
/** One measurement as the status records it; method, source and segmentation say where it came from. */
export type StatusMeasurement = z.infer<typeof measurementSchema>;
/** One finished version of a study's measurements, as the status history keeps it. */
export type StatusVersion = z.infer<typeof versionSchema>;
/** Versions the history keeps: enough to read a study's corrections, few enough to keep the status small. */
export const MAX_HISTORY = 10;

/** The history with `version` appended as the newest (a repeat of the newest digest replaces it), bounded to MAX_HISTORY. */
export function withVersion(history: readonly StatusVersion[] | undefined, version: StatusVersion): StatusVersion[] {
  const earlier = [...(history ?? [])];
  if (earlier[earlier.length - 1]?.digest === version.digest) earlier.pop();
  return [...earlier, version].slice(-MAX_HISTORY);
}

/** One write to Orthanc, for the audit trail. */
export type AuditEntry = z.infer<typeof auditSchema>;

/** What a study's status metadata holds: nothing, something that is not a status (reported, never trusted), or a status. */
export type StoredStatus =
  | { readonly kind: 'absent' }
  | { readonly kind: 'unreadable'; readonly problem: string; readonly etag?: string }
  | { readonly kind: 'readable'; readonly status: StudyStatus; readonly etag?: string };

/** Parses a stored status text; never throws, and says what is wrong with one that is not ours. */
export function parseStatusText(text: string): { ok: true; status: StudyStatus } | { ok: false; problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: `not JSON (${(error as Error).message})` };
  }
  const parsed = studyStatusSchema.safeParse(value);
  if (parsed.success) return { ok: true, status: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, problem: issue ? `${issue.path.join('.') || 'the value'} ${issue.message}` : 'not a status' };
}

/** Parses a stored status; undefined when it is not one (readers that only show it). */
export function parseStatus(text: string): StudyStatus | undefined {
  const parsed = parseStatusText(text);
  return parsed.ok ? parsed.status : undefined;
}

/** Reads a study's status with its revision. */
export async function readStatus(client: OrthancClient, studyId: string): Promise<StoredStatus> {
  const revision = await client.studyMetadata(studyId, METADATA.status);
  if (revision === undefined) return { kind: 'absent' };
  const etag = revision.etag !== undefined ? { etag: revision.etag } : {};
  const parsed = parseStatusText(revision.value);
  return parsed.ok ? { kind: 'readable', status: parsed.status, ...etag } : { kind: 'unreadable', problem: parsed.problem, ...etag };
}

/** The status a stored value holds, or undefined (absent or unreadable). */
export function statusOf(stored: StoredStatus): StudyStatus | undefined {
  return stored.kind === 'readable' ? stored.status : undefined;
}

/** Moves each state may make; `absent` is a study without a readable status. */
const TRANSITIONS: ReadonlyMap<StudyState | 'absent', ReadonlySet<StudyState>> = new Map<StudyState | 'absent', ReadonlySet<StudyState>>([
  // A first claim, or invalid pending input failed at once.
  ['absent', new Set<StudyState>(['processing', 'failed'])],
  ['queued', new Set<StudyState>(['processing', 'failed', 'queued'])],
  // Renewals, waits for the next attempt and take-overs stay in processing.
  ['processing', new Set<StudyState>(['processing', 'done', 'failed', 'queued'])],
  // New measurements, a retry request, or a note added to a finished status.
  ['done', new Set<StudyState>(['processing', 'queued', 'failed', 'done'])],
  ['failed', new Set<StudyState>(['processing', 'queued', 'failed'])],
]);

/** True when a status may go from `from` to `to`. */
export function canMove(from: StudyState | 'absent', to: StudyState): boolean {
  return TRANSITIONS.get(from)?.has(to) ?? false;
}

/** A write the code should never attempt (a bug, never retried). */
export class StatusTransitionError extends Error {
  /** Makes the error naming both states. */
  constructor(studyId: string, from: string, to: string) {
    super(`status of study ${studyId} may not go from ${from} to ${to}`);
    this.name = 'StatusTransitionError';
  }
}

/** A status written, with the ETag that the next compare-and-set must present. */
export interface HeldStatus {
  readonly status: StudyStatus;
  readonly etag: string;
}

/**
 * Writes `next` over exactly the revision `before` (create-only when absent) and answers it with
 * its new ETag, or undefined when somebody else wrote first. The ETag of the PUT's answer is not the
 * one the next If-Match needs (1.10.1 and 1.12.7 with SQLite answer "1-<md5>", their GET and their
 * check use "0-<md5>": test/orthanc/revisions.test.ts), so it is read back, and the text compared to
 * make sure the ETag is that of our write.
 */
export async function writeStatus(client: OrthancClient, studyId: string, before: StoredStatus, next: StudyStatus): Promise<HeldStatus | undefined> {
  const written = await putStatus(client, studyId, before, next);
  if (written === undefined) return undefined;
  const after = await client.studyMetadata(studyId, METADATA.status);
  return after && after.value === written.text ? { status: written.status, etag: after.etag ?? '' } : undefined;
}

/**
 * Writes a status this process will not write over again (done, failed, waiting for its next
 * attempt, a note on a finished one): the same compare-and-set as writeStatus, without reading the new ETag back, which only
 * a later compare-and-set of ours would need (issue 17: one round trip per study). Answers the
 * status written, or undefined when somebody else wrote first (Orthanc's 409 to the If-Match).
 */
export async function writeFinalStatus(client: OrthancClient, studyId: string, before: StoredStatus, next: StudyStatus): Promise<StudyStatus | undefined> {
  return (await putStatus(client, studyId, before, next))?.status;
}

/** Replaces a status this process holds (its ETag known) with a final one (writeFinalStatus); undefined when it changed meanwhile. */
export function finishStatus(client: OrthancClient, studyId: string, held: HeldStatus, next: StudyStatus): Promise<StudyStatus | undefined> {
  return writeFinalStatus(client, studyId, { kind: 'readable', status: held.status, etag: held.etag }, next);
}

/** The compare-and-set PUT both writes make; answers what was written, or undefined when it lost. */
async function putStatus(client: OrthancClient, studyId: string, before: StoredStatus, next: StudyStatus): Promise<{ status: StudyStatus; text: string } | undefined> {
  const from = before.kind === 'readable' ? before.status.state : 'absent';
  if (!canMove(from, next.state)) throw new StatusTransitionError(studyId, from, next.state);
  const versioned: StudyStatus = studyStatusSchema.parse({ ...next, version: (statusOf(before)?.version ?? 0) + 1 });
  const text = JSON.stringify(versioned);
  if (!(await client.replaceStudyMetadata(studyId, METADATA.status, text, before.kind === 'absent' ? undefined : before.etag))) return undefined;
  return { status: versioned, text };
}

/** Replaces a status this process holds (its ETag known); undefined when it changed meanwhile. */
export function replaceStatus(client: OrthancClient, studyId: string, held: HeldStatus, next: StudyStatus): Promise<HeldStatus | undefined> {
  return writeStatus(client, studyId, { kind: 'readable', status: held.status, etag: held.etag }, next);
}

/**
 * Reads, changes and writes the status with compare-and-set, again from a fresh read when
 * another writer came in between (409). The new ETag is not read back: no caller writes over its
 * own write with it, and a write of somebody else's landing just after ours (a replica claiming the
 * study we queued) would otherwise pass for a lost race and have the change made again over it.
 * `change` answers undefined to write nothing.
 */
export async function updateStatus(
  client: OrthancClient,
  studyId: string,
  change: (current: StoredStatus) => StudyStatus | undefined,
): Promise<{ before: StoredStatus; written: StudyStatus | undefined }> {
  return withRetry({ attempts: 5, baseMs: 20 }, async () => {
    const before = await readStatus(client, studyId);
    const next = change(before);
    if (next === undefined) return { before, written: undefined };
    const written = await writeFinalStatus(client, studyId, before, next);
    if (written === undefined) throw new RaceLostError(`the status of study ${studyId} kept changing; try again`, { studyId });
    return { before, written };
  });
}

/**
 * What the status keeps of one finished step: the pipeline's OutcomeRecord has this shape. It is
 * named here rather than imported so that the status store sits below the pipeline that reports to it.
 */
export interface FinishedStep {
  readonly approach: string;
  readonly summary: string;
  readonly alreadyPresent: boolean;
  readonly details: object;
}

/** The outputs and audit entries of finished steps. */
export function outputsOf(outcomes: readonly FinishedStep[], at: Date): { outputs: Record<string, unknown>; writes: AuditEntry[] } {
  const outputs: Record<string, unknown> = {};
  const writes: AuditEntry[] = [];
  for (const o of outcomes) {
    outputs[o.approach] = { summary: o.summary, ...o.details };
    writes.push({ approach: o.approach, summary: o.summary, at: at.toISOString(), alreadyPresent: o.alreadyPresent });
  }
  return { outputs, writes };
}
