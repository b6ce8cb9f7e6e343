/**
 * The UIDs of the private-tag approach's derived copies: stable for (study, source series,
 * measurement digest, scope), so a re-run finds what an earlier run stored, and a series can be
 * recognised as a copy we made (issue 14: only those are ever deleted, when superseded).
 */
import { stableUid } from '../uids.js';
import { studyIdentity } from '../study/identity.js';
import type { StudyFacts } from '../study/facts.js';

/** SeriesInstanceUID of the derived copy of a source series for one set of measurements. */
export function derivedSeriesUid(root: string | undefined, scope: 'image' | 'series', facts: Pick<StudyFacts, 'studyInstanceUid' | 'orthancId'>, sourceSeriesInstanceUid: string, digest: string): string {
  // The Orthanc study is part of the identity: the same source series stored under two PatientIDs gets two copies.
  // Each scope has its own derived series: switching scope adds a series instead of mixing two into one.
  return stableUid(root, scope === 'series' ? 'private-series-one' : 'private-series', ...studyIdentity(facts), sourceSeriesInstanceUid, digest);
}

/** SOPInstanceUID of the derived copy of one source image. */
export function derivedInstanceUid(root: string | undefined, seriesInstanceUid: string, sourceSopInstanceUid: string): string {
  return stableUid(root, 'private-instance', seriesInstanceUid, sourceSopInstanceUid);
}
