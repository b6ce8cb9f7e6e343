/**
 * Turns measurements read from DICOM into the study's pending mark, under the precedence rules of
 * issue 16: a person's mark (and a SEG's, which came first) wins; among DICOM sources of one kind the
 * newest supersedes the older. Every decision is recorded as a note in KidneyVolumesInputs and on
 * a finished status, so the status names what was used and what was left out, and why.
 */
import { createHash } from 'node:crypto';
import { OrthancHttpError, RaceLostError } from '../errors.js';
import type { Logger } from '../log.js';
import { markDigest, parseMeasurementsJson } from '../measurements/parse.js';
import type { OrthancClient } from '../orthanc/client.js';
import { METADATA } from '../orthanc/metadata.js';
import { statusOf, updateStatus, type StudyStatus } from '../status/status.js';
import type { DicomMark } from './mark.js';
import { describeOrigin, isSegMark, originFor, parseInputs, sameNote, withNote, withOrigin, type DicomOrigin, type InputNote, type InputsRecord } from '../measurements/origin.js';

/** A mark read from a DICOM object, with where it came from and when that object was made. */
export interface DicomCandidate {
  readonly origin: DicomOrigin;
  readonly mark: DicomMark;
  /** Sort key among objects of one kind ("YYYYMMDD HHMMSS"); larger is newer. */
  readonly madeAt: string;
}

/** What happened to a candidate. */
export type ApplyOutcome =
  | { readonly kind: 'marked' | 'replaced' | 'already-marked' }
  | { readonly kind: 'kept-existing'; readonly reason: string };

/** Compare-and-set rounds before giving up to the next StableSeries or migrate run. */
const ROUNDS = 4;

/** Writes the candidate as the pending mark when nothing else wins; otherwise notes why not. */
export async function applyDicomMark(client: OrthancClient, studyId: string, candidate: DicomCandidate, now: Date, log: Logger): Promise<ApplyOutcome> {
  for (let round = 0; round < ROUNDS; round++) {
    const outcome = await tryApply(client, studyId, candidate);
    if (outcome === 'raced') continue;
    const reason = outcome.kind === 'kept-existing' ? outcome.reason : `used as the study's measurements (${outcome.kind})`;
    await recordNote(client, studyId, noteOf(candidate.origin, outcome.kind === 'kept-existing' ? 'kept-existing' : 'used', reason, now), undefined);
    log.info({ outcome: outcome.kind, origin: describeOrigin(candidate.origin), digest: candidate.mark.set.digest, ...(outcome.kind === 'kept-existing' ? { reason } : {}) }, outcome.kind === 'kept-existing' ? `kept the study's measurements: ${reason}` : 'pending measurements written from DICOM');
    return outcome;
  }
  const path = `/studies/${studyId}/metadata/${METADATA.pending}`;
  throw new OrthancHttpError('PUT', path, 409, '', `the pending mark of study ${studyId} kept changing during ${ROUNDS} attempts; the next StableSeries or migrate run tries again`);
}

async function tryApply(client: OrthancClient, studyId: string, candidate: DicomCandidate): Promise<ApplyOutcome | 'raced'> {
  const [inputs, pending] = await Promise.all([client.studyMetadata(studyId, METADATA.inputs), client.studyMetadata(studyId, METADATA.pending)]);
  const record = parseInputs(inputs?.value);
  const digest = candidate.mark.set.digest;
  let replace: string | undefined;
  if (pending !== undefined) {
    const current = markDigest(pending.value);
    if (current === digest) {
      // Same measurements, maybe from an object whose origin was not yet recorded: make sure it is.
      if (!originFor(record, digest)) await putInputs(client, studyId, withOrigin(record, digest, candidate.origin), inputs?.etag);
      return { kind: 'already-marked' };
    }
    const existing = current !== undefined ? originFor(record, current) : undefined;
    const decision = precedence(segMarkText(record, pending.value), existing, candidate);
    if (decision !== 'replace') return { kind: 'kept-existing', reason: decision };
    replace = pending.etag;
  }
  // The origin goes first: a mark the sidecar sees must already have its origin beside it.
  if (!(await putInputs(client, studyId, withOrigin(record, digest, candidate.origin), inputs?.etag))) return 'raced';
  if (!(await client.replaceStudyMetadata(studyId, METADATA.pending, candidate.mark.text, replace))) return 'raced';
  return { kind: pending === undefined ? 'marked' : 'replaced' };
}

/** Whether a candidate replaces the pending mark, or why not. */
function precedence(bySeg: boolean, existing: DicomOrigin | undefined, candidate: DicomCandidate): 'replace' | string {
  if (existing === undefined) {
    return bySeg
      ? 'the study already has measurements from a segmentation (SEG), which came first'
      : 'the study has measurements marked by a person, which win over DICOM until a person marks again';
  }
  if (existing.kind !== candidate.origin.kind) return `the study's measurements come from ${describeOrigin(existing)}, which came first`;
  if (sameObject(existing, candidate.origin)) return 'the study already uses this object';
  const existingMadeAt = existing.kind === 'vendor-sr' ? existing.contentDateTime : '';
  // Among objects of one kind the newest wins; the original tool's blocks carry no date, so the latest to arrive wins.
  if (candidate.madeAt !== '' && existingMadeAt !== '' && candidate.madeAt < existingMadeAt) return `a newer object of the same kind is in use: ${describeOrigin(existing)}`;
  return 'replace';
}

function sameObject(a: DicomOrigin, b: DicomOrigin): boolean {
  if (a.kind === 'vendor-sr' && b.kind === 'vendor-sr') return a.sopInstanceUid === b.sopInstanceUid;
  if (a.kind === 'legacy-tags' && b.kind === 'legacy-tags') return a.seriesInstanceUid === b.seriesInstanceUid;
  return false;
}

/**
 * Records what became of an input: in KidneyVolumesInputs always, and on the status when it is
 * finished (a status in processing belongs to a worker whose next write must meet its own revision).
 * `unsureStatus`: for content a person must look at, a study without any status gets a failed one
 * naming the object, so the note is not only in a log.
 */
export async function recordNote(client: OrthancClient, studyId: string, note: InputNote, unsureStatus: string | undefined): Promise<void> {
  for (let round = 0; round < ROUNDS; round++) {
    const inputs = await client.studyMetadata(studyId, METADATA.inputs);
    const record = parseInputs(inputs?.value);
    if (record.notes.some((n) => sameNote(n, note))) break;
    if (await putInputs(client, studyId, withNote(record, note), inputs?.etag)) break;
  }
  // Through the status store (compare-and-set, transitions checked); a status that keeps changing
  // is left alone: the note is in KidneyVolumesInputs already.
  await updateStatus(client, studyId, (stored): StudyStatus | undefined => {
    if (stored.kind === 'absent') {
      if (unsureStatus === undefined) return undefined;
      return {
        state: 'failed',
        digest: createHash('sha256').update(`${note.source}:${note.sopInstanceUid}`).digest('hex'),
        measurements: [],
        attempts: 1,
        createdAt: note.at,
        updatedAt: note.at,
        finishedAt: note.at,
        error: unsureStatus,
        errorKind: 'invalid-measurements',
        inputs: [note],
      };
    }
    const status = statusOf(stored);
    if (!status || (status.state !== 'done' && status.state !== 'failed')) return undefined;
    const notes = status.inputs ?? [];
    if (notes.some((n) => sameNote(n, note))) return undefined;
    return { ...status, inputs: [...notes.filter((n) => !(n.source === note.source && n.sopInstanceUid === note.sopInstanceUid)), note].slice(-20) };
  }).catch((error: unknown) => {
    if (!(error instanceof RaceLostError)) throw error;
  });
}

/** A note about an origin. */
export function noteOf(origin: DicomOrigin, outcome: InputNote['outcome'], reason: string, now: Date): InputNote {
  return { source: origin.kind, sopInstanceUid: origin.sopInstanceUid, seriesInstanceUid: origin.seriesInstanceUid, outcome, reason, at: now.toISOString() };
}

/** Compare-and-set of the inputs record; false when somebody wrote first. */
async function putInputs(client: OrthancClient, studyId: string, record: ReturnType<typeof parseInputs>, etag: string | undefined): Promise<boolean> {
  return client.replaceStudyMetadata(studyId, METADATA.inputs, JSON.stringify(record), etag);
}

/** True when the pending mark is one a SEG wrote (recorded by the segmentation trigger), not a person's that names a SEG. */
function segMarkText(record: InputsRecord, text: string): boolean {
  try {
    return isSegMark(record, parseMeasurementsJson(text));
  } catch {
    return false;
  }
}
