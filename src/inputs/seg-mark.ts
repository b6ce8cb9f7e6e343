/**
 * The record that the segmentation trigger wrote a pending mark (issue 14): before writing it, the
 * trigger notes the mark's digest and the SEG it measured in KidneyVolumesInputs, so that a later
 * SEG may replace that mark and the status history names its source `seg`, while a mark a person
 * typed (a PUT straight into Orthanc, even one copying a SEG's fields) stays a person's mark.
 */
import { RaceLostError } from '../errors.js';
import type { OrthancClient } from '../orthanc/client.js';
import { METADATA } from '../orthanc/metadata.js';
import { parseInputs, withSegMark, type SegMark } from '../measurements/origin.js';

/** Compare-and-set rounds before telling the caller to try again. */
const ROUNDS = 5;

/** Records that the trigger writes the mark `mark.digest` from the SEG `mark.sopInstanceUid`; throws RaceLostError when other writers kept changing the record. */
export async function recordSegMark(client: OrthancClient, studyId: string, mark: SegMark): Promise<void> {
  for (let round = 0; round < ROUNDS; round++) {
    const stored = await client.studyMetadata(studyId, METADATA.inputs);
    const record = parseInputs(stored?.value);
    if (record.segs?.some((m) => m.digest === mark.digest && m.sopInstanceUid === mark.sopInstanceUid)) return;
    if (await client.replaceStudyMetadata(studyId, METADATA.inputs, JSON.stringify(withSegMark(record, mark)), stored?.etag)) return;
  }
  throw new RaceLostError(`the inputs record of study ${studyId} kept changing while the segmentation's mark was recorded; trying again`, { studyId });
}
