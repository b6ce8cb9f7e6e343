/**
 * Derived series of older versions of a study's measurements (issue 14): once the copies of the
 * current version are written and verified, those of older versions are deleted, so storage does
 * not grow with every correction. Only what is provably ours goes: a series whose first image carries
 * our KidneyVolInfo block with an older digest, whose SeriesInstanceUID is the one we derive for that
 * digest and its source series, and whose every SOP Instance UID is one we derive from an image of
 * that source series. An original image can match none of this; anything else is kept and reported.
 */
import { NotFoundError } from '../errors.js';
import { readKidneyBlock } from '../dicom/private-tags/read.js';
import type { OrthancClient } from '../orthanc/client.js';
import { isImageSeries, type SeriesFacts, type StudyFacts } from '../study/facts.js';
import { derivedInstanceUid, derivedSeriesUid } from './private-uids.js';

/** What became of the derived series of older versions. */
export interface SupersededReport {
  readonly deleted: readonly { readonly seriesInstanceUid: string; readonly digest: string; readonly instances: number }[];
  readonly kept: readonly { readonly seriesInstanceUid: string; readonly reason: string }[];
}

/** What the current version is. */
export interface CurrentCopies {
  readonly root: string | undefined;
  /** Digest of the current measurements. */
  readonly digest: string;
  /** SeriesInstanceUIDs of the current version's copies (never touched). */
  readonly current: ReadonlySet<string>;
  /** Orthanc IDs of series already known to be originals (the step's sources): never read or touched. */
  readonly originals: ReadonlySet<string>;
  /** KV_KEEP_SUPERSEDED: report them, delete nothing. */
  readonly keep: boolean;
}

/** Deletes (or, with `keep`, lists) the derived series of older versions among the study's series as the facts list them. */
export async function removeSuperseded(client: OrthancClient, facts: StudyFacts, now: CurrentCopies): Promise<SupersededReport> {
  const deleted: { seriesInstanceUid: string; digest: string; instances: number }[] = [];
  const kept: { seriesInstanceUid: string; reason: string }[] = [];
  for (const series of facts.series.filter(isImageSeries)) {
    if (now.current.has(series.seriesInstanceUid) || now.originals.has(series.orthancId)) continue;
    const verdict = await olderCopy(client, facts, series, now);
    if (verdict.kind === 'not-ours') continue;
    if (verdict.kind === 'unsure') {
      kept.push({ seriesInstanceUid: series.seriesInstanceUid, reason: verdict.reason });
      continue;
    }
    if (now.keep) {
      kept.push({ seriesInstanceUid: series.seriesInstanceUid, reason: 'KV_KEEP_SUPERSEDED is set' });
      continue;
    }
    for (const instance of series.instances) {
      try {
        await client.deleteInstance(instance.orthancId);
      } catch (error) {
        // Gone already: an earlier run was stopped half-way through deleting this series.
        if (!(error instanceof NotFoundError)) throw error;
      }
    }
    deleted.push({ seriesInstanceUid: series.seriesInstanceUid, digest: verdict.digest, instances: series.instances.length });
  }
  return { deleted, kept };
}

type Verdict = { readonly kind: 'not-ours' } | { readonly kind: 'unsure'; readonly reason: string } | { readonly kind: 'older'; readonly digest: string };

/** Whether a series is a derived copy of an older version, checked by its block, its UID and every instance's UID. */
async function olderCopy(client: OrthancClient, facts: StudyFacts, series: SeriesFacts, now: CurrentCopies): Promise<Verdict> {
  const first = series.instances[0];
  if (!first) return { kind: 'not-ours' };
  const block = readKidneyBlock(await client.instanceFile(first.orthancId));
  // No block, or the original tool's block (no digest): an original, never ours to delete.
  if (!block || block.digest === '') return { kind: 'not-ours' };
  if (block.digest === now.digest) return { kind: 'not-ours' };
  const derivedUids = (['image', 'series'] as const).map((scope) => derivedSeriesUid(now.root, scope, facts, block.sourceSeriesInstanceUid, block.digest));
  if (!derivedUids.includes(series.seriesInstanceUid)) {
    return { kind: 'unsure', reason: `carries our block (digest ${block.digest.slice(0, 12)}) but not the SeriesInstanceUID we derive for it (another UID root?)` };
  }
  const source = facts.series.find((s) => s.seriesInstanceUid === block.sourceSeriesInstanceUid);
  if (!source) return { kind: 'unsure', reason: `its source series ${block.sourceSeriesInstanceUid} is no longer in the study, so its images cannot be checked` };
  const expected = new Set(source.instances.map((i) => derivedInstanceUid(now.root, series.seriesInstanceUid, i.sopInstanceUid)));
  const foreign = series.instances.filter((i) => !expected.has(i.sopInstanceUid));
  if (foreign.length > 0) return { kind: 'unsure', reason: `${foreign.length} of its instances are not copies we made (e.g. ${foreign[0]?.sopInstanceUid ?? ''})` };
  return { kind: 'older', digest: block.digest };
}
