/** Asking for a failed (or stuck) study to be processed again: its status goes back to queued. */
import { OrthancHttpError, KidneyVolumesError } from '../errors.js';
import type { OrthancClient } from '../orthanc/client.js';
import { METADATA } from '../pipeline/metadata.js';
import { parseStatus, type StudyStatus } from './status.js';

/** Marks the study queued again (attempts start over); answers the previous state. */
export async function requestRetry(client: OrthancClient, studyId: string, now: Date): Promise<{ previous: string }> {
  const pending = await client.studyMetadata(studyId, METADATA.pending);
  if (pending === undefined) {
    throw new KidneyVolumesError('usage', `study ${studyId} has no ${METADATA.pending} mark: nothing to retry`);
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const revision = await client.studyMetadata(studyId, METADATA.status);
    const current = revision ? parseStatus(revision.value) : undefined;
    if (!current) return { previous: 'none' };
    const { error: _e, errorKind: _k, nextAttemptAt: _n, owner: _o, leaseUntil: _l, finishedAt: _f, ...rest } = current;
    const queued: StudyStatus = { ...rest, state: 'queued', attempts: 0, updatedAt: now.toISOString() };
    try {
      await client.putStudyMetadata(studyId, METADATA.status, JSON.stringify(queued), revision?.etag);
      return { previous: current.state };
    } catch (error) {
      if (!(error instanceof OrthancHttpError && error.status === 409)) throw error;
    }
  }
  throw new KidneyVolumesError('conflict', `the status of study ${studyId} kept changing; try again`);
}
