/** Asking for a failed (or stuck) study to be processed again: its status goes back to queued. */
import { KidneyVolumesError } from '../errors.js';
import type { OrthancClient } from '../orthanc/client.js';
import { METADATA } from '../orthanc/metadata.js';
import { updateStatus, type StudyStatus } from './status.js';

/** Marks the study queued again (attempts and crashes start over); answers the previous state. */
export async function requestRetry(client: OrthancClient, studyId: string, now: Date): Promise<{ previous: string }> {
  const pending = await client.studyMetadata(studyId, METADATA.pending);
  if (pending === undefined) {
    throw new KidneyVolumesError('usage', `study ${studyId} has no ${METADATA.pending} mark: nothing to retry`);
  }
  const { before } = await updateStatus(client, studyId, (stored) => {
    if (stored.kind !== 'readable') return undefined;
    const { error: _e, errorKind: _k, nextAttemptAt: _n, owner: _o, leaseUntil: _l, finishedAt: _f, crashes: _c, ...rest } = stored.status;
    const queued: StudyStatus = { ...rest, state: 'queued', attempts: 0, updatedAt: now.toISOString() };
    return queued;
  });
  return { previous: before.kind === 'readable' ? before.status.state : 'none' };
}
