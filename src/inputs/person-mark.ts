/**
 * A person's measurements written as the study's pending mark (issue 14): the one code path of the
 * HTTP API, `kidney-volumes mark` and `attach`. The mark is replaced by compare-and-set (If-Match on
 * the revision read), so a correction of a study that already has a mark works where a plain PUT
 * gets Orthanc's 409; the route that wrote it goes into KidneyVolumesInputs first, keyed by digest,
 * so the status history can name it when the sidecar (or attach) makes it the current version.
 */
import { RaceLostError } from '../errors.js';
import type { MeasurementSet } from '../measurements/model.js';
import { DIAMETER_KEYS } from '../measurements/diameters.js';
import { markDigest, parseMeasurementsJson } from '../measurements/parse.js';
import type { OrthancClient } from '../orthanc/client.js';
import { METADATA } from '../orthanc/metadata.js';
import { markSourceFor, parseInputs, withMarkSource, type PersonSource } from '../measurements/origin.js';

/** What writing the mark did. */
export interface PersonMarkResult {
  readonly studyId: string;
  readonly set: MeasurementSet;
  /** `created`: the study had no mark; `replaced`: another mark was replaced; `unchanged`: the mark already held these measurements. */
  readonly outcome: 'created' | 'replaced' | 'unchanged';
}

/** Compare-and-set rounds before telling the caller to try again. */
const ROUNDS = 5;

/**
 * Writes `text` (already parsed into `set`) as the pending mark of the study (Orthanc ID or
 * StudyInstanceUID). Throws NotFoundError / AmbiguousStudyError for the study, RaceLostError when
 * other writers kept changing the mark.
 */
export async function writePersonMark(client: OrthancClient, studyIdOrUid: string, text: string, set: MeasurementSet, source: PersonSource, now: Date): Promise<PersonMarkResult> {
  const studyId = await client.resolveStudy(studyIdOrUid);
  for (let round = 0; round < ROUNDS; round++) {
    const [inputs, pending] = await Promise.all([client.studyMetadata(studyId, METADATA.inputs), client.studyMetadata(studyId, METADATA.pending)]);
    const record = parseInputs(inputs?.value);
    const unchanged = pending !== undefined && markDigest(pending.value) === set.digest;
    if (markSourceFor(record, set.digest) !== source) {
      // The route goes first: a mark the sidecar sees must already have its route beside it.
      if (!(await client.replaceStudyMetadata(studyId, METADATA.inputs, JSON.stringify(withMarkSource(record, { digest: set.digest, source, at: now.toISOString() })), inputs?.etag))) continue;
    }
    if (unchanged) return { studyId, set, outcome: 'unchanged' };
    if (await client.replaceStudyMetadata(studyId, METADATA.pending, text, pending?.etag)) return { studyId, set, outcome: pending === undefined ? 'created' : 'replaced' };
  }
  throw new RaceLostError(`the pending measurements of study ${studyId} kept changing while they were being written; try again`, { studyId });
}

/** The structured JSON form of a set, as the measurement parser reads it back (the same digest). */
export function markTextOf(set: MeasurementSet): string {
  const seg = set.measurements.find((m) => m.segmentation !== undefined)?.segmentation;
  const text = JSON.stringify({
    ...(seg ? { segmentation: { seriesInstanceUid: seg.seriesInstanceUid, sopInstanceUid: seg.sopInstanceUid } } : {}),
    measurements: set.measurements.map((m) => ({
      name: m.name,
      // An estimate is written as its diameters (the parser computes the same volume from them).
      ...(m.diameters
        ? { diameters: Object.fromEntries(DIAMETER_KEYS.map((key) => [key, `${m.diameters?.[key].value} ${m.diameters?.[key].unit}`])) }
        : { value: m.valueMl, unit: 'mL' }),
      ...(m.anatomy ? { anatomy: m.anatomy } : {}),
      ...(m.method ? { method: m.method } : {}),
      ...(m.source ? { source: m.source } : {}),
      ...(m.operator ? { operator: m.operator } : {}),
      ...(m.segmentation ? { segments: m.segmentation.segmentNumbers } : {}),
    })),
  });
  const back = parseMeasurementsJson(text);
  if (back.digest !== set.digest) throw new Error(`the mark written for measurements ${set.digest} would read back as ${back.digest}`);
  return text;
}


