/**
 * The private-tags approach (issue 4): a derived copy of every image series of the study, each
 * image carrying the volumes in our private block, uploaded into the same study. Originals are
 * only read. Stable UIDs make re-runs idempotent and let an interrupted run be completed; the
 * outcome claims success only after every copy is counted in Orthanc and one per series is read back.
 */
import { compareWithSource, onlyIntendedChanges } from '../dicom/private-tags/compare.js';
import { DESCRIPTION_SUFFIX, derivePrivateCopy } from '../dicom/private-tags/derive.js';
import { PrivateTagsError } from '../dicom/private-tags/errors.js';
import { KIDNEY_CREATOR, blockContent, type KidneyBlockContent } from '../dicom/private-tags/layout.js';
import { readKidneyBlock, type FoundKidneyBlock } from '../dicom/private-tags/read.js';
import { stableUid } from '../dicom/uids.js';
import { StudyDataError } from '../errors.js';
import { studyIdentity } from '../study/identity.js';
import type { OrthancClient } from '../orthanc/client.js';
import { isImageSeries, type InstanceFacts, type SeriesFacts, type StudyFacts } from '../study/facts.js';
import type { Step, StepContext, StepOutcome, StoredOutcome } from './approaches.js';
import { mapLimit } from './concurrency.js';

/** Instances in flight at once: enough to keep Orthanc busy, few enough that memory stays flat. */
export const DEFAULT_PRIVATE_CONCURRENCY = 4;

/** Tuning for the private step. */
export interface PrivateStepOptions {
  readonly concurrency?: number;
}

/** One source series and the copy it should have. */
interface SeriesPlan {
  readonly source: SeriesFacts;
  readonly seriesInstanceUid: string;
  readonly content: KidneyBlockContent;
  /** Derived SOP Instance UID for each source instance, in the source's order. */
  readonly sopInstanceUids: readonly string[];
}

/** One derived series as verified in Orthanc. */
export interface VerifiedCopy {
  readonly sourceSeriesInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly orthancId: string;
  readonly instances: number;
  readonly uploaded: number;
  /** Creator slot found on read-back, e.g. "(0011,0011)". */
  readonly creatorSlot: string;
}

/** The private step with the given tuning. */
export function createPrivateStep(options: PrivateStepOptions = {}): Step {
  const concurrency = options.concurrency ?? DEFAULT_PRIVATE_CONCURRENCY;
  return {
    approach: 'private',
    write: (context) => writeCopies(context, concurrency),
    inspect: inspectCopies,
  };
}

/** The private step as registered in STEPS. */
export const privateStep: Step = createPrivateStep();

async function writeCopies(context: StepContext, concurrency: number): Promise<StepOutcome> {
  const { client, facts, measurements } = context;
  const root = context.settings.uidRoot;
  const sources = await sourceSeries(client, facts);
  if (sources.length === 0) {
    throw new StudyDataError(
      `study ${facts.studyInstanceUid} has no image series to copy the private tags into (only ${facts.series.map((s) => s.modality || '?').join(', ') || 'no series'}); ` +
        'the private-tags approach needs images: use --approach sr,fhir for this study',
      { study: facts.orthancId },
    );
  }
  const plans = sources.map((source): SeriesPlan => {
    // The Orthanc study is part of the identity: the same source series stored under two PatientIDs gets two copies.
    const seriesInstanceUid = stableUid(root, 'private-series', ...studyIdentity(facts), source.seriesInstanceUid, measurements.digest);
    return {
      source,
      seriesInstanceUid,
      content: blockContent(measurements, source.seriesInstanceUid),
      sopInstanceUids: source.instances.map((i) => stableUid(root, 'private-instance', seriesInstanceUid, i.sopInstanceUid)),
    };
  });
  // Skip what an earlier (maybe interrupted) run stored: the same UIDs would only answer AlreadyStored.
  const jobs: { plan: SeriesPlan; instance: InstanceFacts; sopInstanceUid: string }[] = [];
  const uploaded = new Map<SeriesPlan, number>();
  for (const plan of plans) {
    const stored = new Set((await storedSeries(client, facts, plan.seriesInstanceUid))?.sopInstanceUids);
    plan.source.instances.forEach((instance, i) => {
      const sopInstanceUid = plan.sopInstanceUids[i] as string;
      if (!stored.has(sopInstanceUid)) jobs.push({ plan, instance, sopInstanceUid });
    });
    uploaded.set(plan, 0);
  }
  let done = 0;
  context.progress?.({ approach: 'private', done, total: jobs.length });
  await mapLimit(jobs, concurrency, async ({ plan, instance, sopInstanceUid }) => {
    const copy = derivePrivateCopy(await client.instanceFile(instance.orthancId), {
      seriesInstanceUid: plan.seriesInstanceUid,
      sopInstanceUid,
      content: plan.content,
    });
    const result = await context.uploads.upload(copy.bytes, sopInstanceUid);
    if (result.ParentStudy !== facts.orthancId) {
      throw new PrivateTagsError(`copy of ${instance.sopInstanceUid} landed in study ${result.ParentStudy}, expected ${facts.orthancId}`, { instance: result.ID });
    }
    uploaded.set(plan, (uploaded.get(plan) ?? 0) + 1);
    context.progress?.({ approach: 'private', done: ++done, total: jobs.length });
  });
  const verified: VerifiedCopy[] = [];
  for (const plan of plans) verified.push(await verifyCopy(client, facts, plan, uploaded.get(plan) ?? 0));
  const images = verified.reduce((n, v) => n + v.instances, 0);
  return {
    approach: 'private',
    summary:
      `${verified.length} derived series (${images} images) with private block ${KIDNEY_CREATOR}: ` +
      verified.map((v) => `${v.seriesInstanceUid} from ${v.sourceSeriesInstanceUid} at ${v.creatorSlot}`).join(', '),
    alreadyPresent: jobs.length === 0,
    details: { creator: KIDNEY_CREATOR, lines: plans[0]?.content.lines ?? [], series: verified },
    outputSeries: verified.map((v) => v.orthancId),
  };
}

/** Image series that are not copies we made (recognised by description, or by our block in their first image). */
async function sourceSeries(client: OrthancClient, facts: StudyFacts): Promise<SeriesFacts[]> {
  const sources: SeriesFacts[] = [];
  for (const series of facts.series.filter(isImageSeries)) {
    if ((await ownBlockOf(client, series)) === undefined) sources.push(series);
  }
  return sources;
}

/** Our block in the series' first image; a series described as a copy counts as ours even without one. */
async function ownBlockOf(client: OrthancClient, series: SeriesFacts): Promise<FoundKidneyBlock | 'described' | undefined> {
  const first = series.instances[0];
  const block = first ? readKidneyBlock(await client.instanceFile(first.orthancId)) : undefined;
  return block ?? (series.seriesDescription?.endsWith(DESCRIPTION_SUFFIX.trim()) ? 'described' : undefined);
}

/**
 * A series of this study by SeriesInstanceUID: its Orthanc ID and its instances' SOP Instance UIDs
 * with their Orthanc IDs. A series of that UID in another study (another patient's) is not ours to count.
 */
async function storedSeries(
  client: OrthancClient,
  facts: StudyFacts,
  seriesInstanceUid: string,
): Promise<{ id: string; sopInstanceUids: string[]; ids: Map<string, string> } | undefined> {
  let match: { ID: string } | undefined;
  for (const candidate of (await client.lookup(seriesInstanceUid)).filter((r) => r.Type === 'Series')) {
    if ((await client.series(candidate.ID)).ParentStudy === facts.orthancId) match = candidate;
  }
  if (!match) return undefined;
  const instances = await client.seriesInstances(match.ID);
  const ids = new Map(instances.map((i) => [i.MainDicomTags['SOPInstanceUID'] ?? '', i.ID]));
  return { id: match.ID, sopInstanceUids: [...ids.keys()], ids };
}

/** Checks that Orthanc holds exactly the expected copies, and reads the first one back to find our block by creator. */
async function verifyCopy(client: OrthancClient, facts: StudyFacts, plan: SeriesPlan, uploaded: number): Promise<VerifiedCopy> {
  const details = { sourceSeriesInstanceUid: plan.source.seriesInstanceUid, seriesInstanceUid: plan.seriesInstanceUid };
  const stored = await storedSeries(client, facts, plan.seriesInstanceUid);
  const expected = new Set(plan.sopInstanceUids);
  const missing = plan.sopInstanceUids.filter((uid) => !stored?.ids.has(uid));
  const extra = (stored?.sopInstanceUids ?? []).filter((uid) => !expected.has(uid));
  if (!stored || missing.length > 0 || extra.length > 0) {
    throw new PrivateTagsError(
      `derived series ${plan.seriesInstanceUid} should hold ${expected.size} copies, Orthanc has ${stored?.sopInstanceUids.length ?? 0} ` +
        `(${missing.length} missing, ${extra.length} unexpected)`,
      { ...details, missing: missing.length, extra: extra.length },
    );
  }
  const firstId = stored.ids.get(plan.sopInstanceUids[0] as string) as string;
  const copy = await client.instanceFile(firstId);
  const block = readKidneyBlock(copy);
  const differences = compareWithSource(await client.instanceFile((plan.source.instances[0] as InstanceFacts).orthancId), copy);
  const problem = blockProblem(block, plan.content) ?? (onlyIntendedChanges(differences) ? undefined : `differs from its source: ${JSON.stringify(differences)}`);
  if (problem) throw new PrivateTagsError(`read-back of ${firstId} in derived series ${plan.seriesInstanceUid}: ${problem}`, details);
  const slot = (block as FoundKidneyBlock).slot.toString(16).toUpperCase().padStart(4, '0');
  return { ...details, orthancId: stored.id, instances: expected.size, uploaded, creatorSlot: `(0011,${slot})` };
}

/** What differs between the block read back and the one we meant to write, or undefined when they agree. */
function blockProblem(block: FoundKidneyBlock | undefined, wanted: KidneyBlockContent): string | undefined {
  if (!block) return `no private creator "${KIDNEY_CREATOR}" in group 0011`;
  if (JSON.stringify(block.lines) !== JSON.stringify(wanted.lines)) return `text lines ${JSON.stringify(block.lines)}, expected ${JSON.stringify(wanted.lines)}`;
  if (JSON.stringify(block.volumesMl) !== JSON.stringify(wanted.volumesMl)) return `volumes ${JSON.stringify(block.volumesMl)}, expected ${JSON.stringify(wanted.volumesMl)}`;
  if (block.digest !== wanted.digest) return `digest ${block.digest}, expected ${wanted.digest}`;
  if (block.sourceSeriesInstanceUid !== wanted.sourceSeriesInstanceUid) return `source series ${block.sourceSeriesInstanceUid}, expected ${wanted.sourceSeriesInstanceUid}`;
  return undefined;
}

/** Reports the derived series the study holds: complete only when every source image series has a full copy. */
async function inspectCopies(client: OrthancClient, facts: StudyFacts): Promise<StoredOutcome> {
  const copies: { series: SeriesFacts; block: FoundKidneyBlock | undefined; source: SeriesFacts | undefined }[] = [];
  const sources: SeriesFacts[] = [];
  for (const series of facts.series.filter(isImageSeries)) {
    const own = await ownBlockOf(client, series);
    if (own === undefined) {
      sources.push(series);
      continue;
    }
    const block = own === 'described' ? undefined : own;
    copies.push({ series, block, source: facts.series.find((s) => s.seriesInstanceUid === block?.sourceSeriesInstanceUid) });
  }
  const complete = (c: (typeof copies)[number]): boolean => c.block !== undefined && c.source !== undefined && c.series.instances.length === c.source.instances.length;
  const incomplete = copies.filter((c) => !complete(c));
  const uncovered = sources.filter((s) => !copies.some((c) => complete(c) && c.source === s));
  const found = copies.length > 0 && incomplete.length === 0 && uncovered.length === 0;
  const lines = copies.find(complete)?.block?.lines ?? [];
  const summary =
    copies.length === 0
      ? `no derived series with private block ${KIDNEY_CREATOR}`
      : found
        ? `${copies.length} derived series with ${KIDNEY_CREATOR}: ${lines.join('; ')}`
        : `incomplete: ${incomplete.length} derived series short of images or unreadable, ${uncovered.length} image series without a complete copy`;
  return {
    approach: 'private',
    found,
    summary,
    details: {
      creator: KIDNEY_CREATOR,
      series: copies.map((c) => ({
        seriesInstanceUid: c.series.seriesInstanceUid,
        sourceSeriesInstanceUid: c.block?.sourceSeriesInstanceUid,
        instances: c.series.instances.length,
        sourceInstances: c.source?.instances.length,
        lines: c.block?.lines ?? [],
        volumesMl: c.block?.volumesMl ?? [],
        digest: c.block?.digest,
      })),
    },
  };
}
