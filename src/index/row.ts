/** One study as the dashboard lists it, and how it is derived from what Orthanc holds. */
import { patientMainTags, studyMainTags } from '../study/main-tags.js';
import type { OrthancStudy } from '../orthanc/types.js';
import { STUDY_STATES, type StudyStatus } from '../status/status.js';

/** States a listed study can be in: the sidecar's states, plus `deleted` once Orthanc dropped the study. */
export const ROW_STATES = [...STUDY_STATES, 'deleted'] as const;
/** One of ROW_STATES. */
export type RowState = (typeof ROW_STATES)[number];

/** A study row of the index. */
export interface StudyRow {
  readonly studyId: string;
  readonly studyInstanceUid: string;
  readonly patientName: string;
  readonly patientId: string;
  readonly accession: string;
  /** StudyDate as DICOM gives it (YYYYMMDD), empty when absent. */
  readonly studyDate: string;
  /** ModalitiesInStudy, backslash-separated as Orthanc keeps it. */
  readonly modalities: string;
  readonly state: RowState;
  readonly attempts: number;
  /** The error in full, for a failed study or one waiting for its next attempt. */
  readonly error: string;
  /** When the next attempt is due, for a study that hit a transient fault. */
  readonly nextAttemptAt: string;
  /** Last change (ISO 8601): the status' updatedAt, or when the index saw the change. */
  readonly updatedAt: string;
  /** When the index first saw these pending measurements (ISO 8601); start of the mark-to-done latency. */
  readonly markedAt: string;
  readonly finishedAt: string;
  /** The replica holding or last holding the study. */
  readonly owner: string;
  /** Digest of the pending measurements the row is about. */
  readonly digest: string;
}

/** The row's fields that come from the study's instances (its main tags and series): they change only when instances do. */
export type StudyFields = Pick<StudyRow, 'studyInstanceUid' | 'patientName' | 'patientId' | 'accession' | 'studyDate' | 'modalities'>;

/** The row's fields that come from our metadata on the study (the pending mark and the status): they change with each write. */
export type StatusFields = Omit<StudyRow, 'studyId' | keyof StudyFields>;

/** Builds a row from Orthanc's study and our status; `seenAt` stands in for times the status lacks. */
export function rowOf(study: OrthancStudy, status: StudyStatus | undefined, pendingDigest: string, seenAt: Date): StudyRow {
  return { studyId: study.ID, ...studyFieldsOf(study), ...statusFieldsOf(status, pendingDigest, seenAt) };
}

/** The study's own fields of a row, from Orthanc's study (ModalitiesInStudy already filled in). */
export function studyFieldsOf(study: OrthancStudy): StudyFields {
  const tags = studyMainTags(study);
  const patient = patientMainTags(study);
  return {
    studyInstanceUid: tags.studyInstanceUid,
    patientName: patient.patientName.replace(/\^+/g, ' ').trim(),
    patientId: patient.patientId,
    accession: tags.accessionNumber,
    studyDate: tags.studyDate,
    modalities: study.MainDicomTags['ModalitiesInStudy'] ?? '',
  };
}

/** The status fields of a row, from our status and the digest of the pending mark ('' when none); `seenAt` stands in for times the status lacks. */
export function statusFieldsOf(status: StudyStatus | undefined, pendingDigest: string, seenAt: Date): StatusFields {
  // A status about other measurements than the pending ones is stale: the new mark waits in the queue.
  const current = status !== undefined && (pendingDigest === '' || status.digest === pendingDigest) ? status : undefined;
  return {
    state: current?.state ?? 'queued',
    attempts: current?.attempts ?? 0,
    error: current?.error ?? '',
    nextAttemptAt: current?.nextAttemptAt ?? '',
    updatedAt: current?.updatedAt ?? seenAt.toISOString(),
    markedAt: current?.createdAt ?? seenAt.toISOString(),
    finishedAt: current?.finishedAt ?? '',
    owner: current?.owner ?? '',
    digest: current?.digest ?? pendingDigest,
  };
}
