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
import { StudyDataError } from '../errors.js';
import type { OrthancClient } from '../orthanc/client.js';
import { isImageSeries, type InstanceFacts, type SeriesFacts, type StudyFacts } from '../study/facts.js';
import type { Step, StepContext, StoredOutcome } from './approaches.js';
import type { PrivateOutcome, VerifiedCopy } from './outcomes.js';
import { createPool, mapLimit } from './concurrency.js';
import { derivedInstanceUid, derivedSeriesUid } from './private-uids.js';
import { removeSuperseded, type SupersededReport } from './superseded.js';
import { fileBytes, type ByteBudget } from './byte-budget.js';
import { BufferPool } from './buffer-pool.js';

/** Uploads in flight at once: as many as Orthanc's own REST ingest is measured with (the cost is its ingest). */
export const DEFAULT_PRIVATE_CONCURRENCY = 4;
/**
 * Images read and copied ahead of the uploads (issue 17): with each worker downloading and then
 * uploading, a quarter to a third of the workers were downloading at any moment, so Orthanc had
 * fewer uploads to ingest than its own ingest at the same concurrency. Reading ahead keeps
 * `concurrency` uploads in flight; the copies waiting for a slot are held within the byte budget.
 */
export const DEFAULT_READ_AHEAD = 4;

/** Tuning for the private step. */
export interface PrivateStepOptions {
  /** Uploads in flight at once. */
  readonly concurrency?: number;
  /** Downloads and copies ahead of the uploads (0: each worker downloads, then uploads). */
  readonly readAhead?: number;
  /** Bounds the bytes of source and copy held at once (default: the process's budget). */
  readonly budget?: ByteBudget;
}

/** Source first images kept between finding the sources and verifying the copies, up to this many bytes in all. */
const FIRST_IMAGES_BYTES = 16 * 1024 * 1024;
/** What to reserve for a file whose size Orthanc did not report. */
const UNKNOWN_FILE_BYTES = 1024 * 1024;

/** One source series and the copy it should have. */
interface SeriesPlan {
  readonly source: SeriesFacts;
  readonly seriesInstanceUid: string;
  readonly content: KidneyBlockContent;
  /** The source instances copied: all of them, or the first one with scope "series". */
  readonly instances: readonly InstanceFacts[];
  /** Derived SOP Instance UID for each copied instance, in the same order. */
  readonly sopInstanceUids: readonly string[];
}

/** One derived series as verified in Orthanc (re-exported: its home is outcomes.ts). */
export type { VerifiedCopy } from './outcomes.js';

/** The private step with the given tuning. */
export function createPrivateStep(options: PrivateStepOptions = {}): Step<PrivateOutcome> {
  const concurrency = options.concurrency ?? DEFAULT_PRIVATE_CONCURRENCY;
  const readAhead = options.readAhead ?? DEFAULT_READ_AHEAD;
  const budget = options.budget ?? fileBytes;
  return {
    approach: 'private',
    write: (context) => writeCopies(context, concurrency, readAhead, budget),
    inspect: inspectCopies,
  };
}

/** The private step as registered in STEPS. */
export const privateStep: Step<PrivateOutcome> = createPrivateStep();

async function writeCopies(context: StepContext, concurrency: number, readAhead: number, budget: ByteBudget): Promise<PrivateOutcome> {
  const { client, facts, measurements } = context;
  const root = context.settings.uidRoot;
  const scope = context.settings.privateScope ?? 'image';
  const { sources, firstImages } = await sourceSeries(client, facts);
  if (sources.length === 0) {
    throw new StudyDataError(
      `study ${facts.studyInstanceUid} has no image series to copy the private tags into (only ${facts.series.map((s) => s.modality || '?').join(', ') || 'no series'}); ` +
        'the private-tags approach needs images: use --approach sr,fhir for this study',
      { study: facts.orthancId },
    );
  }
  const plans = sources.map((source): SeriesPlan => {
    const seriesInstanceUid = derivedSeriesUid(root, scope, facts, source.seriesInstanceUid, measurements.digest);
    const instances = scope === 'series' ? source.instances.slice(0, 1) : source.instances;
    return {
      source,
      seriesInstanceUid,
      content: blockContent(measurements, source.seriesInstanceUid),
      instances,
      sopInstanceUids: instances.map((i) => derivedInstanceUid(root, seriesInstanceUid, i.sopInstanceUid)),
    };
  });
  // Skip what an earlier (maybe interrupted) run stored: the same UIDs would only answer AlreadyStored.
  const jobs: { plan: SeriesPlan; instance: InstanceFacts; sopInstanceUid: string }[] = [];
  const uploaded = new Map<SeriesPlan, number>();
  for (const plan of plans) {
    const stored = new Set((await storedSeries(client, facts, plan.seriesInstanceUid))?.sopInstanceUids);
    plan.instances.forEach((instance, i) => {
      const sopInstanceUid = plan.sopInstanceUids[i] as string;
      if (!stored.has(sopInstanceUid)) jobs.push({ plan, instance, sopInstanceUid });
    });
    uploaded.set(plan, 0);
  }
  let done = 0;
  context.progress?.({ approach: 'private', done, total: jobs.length });
  let addedBytes = 0;
  const uploadSlots = createPool(concurrency);
  const memory = new BufferPool();
  await mapLimit(jobs, concurrency + Math.max(0, readAhead), async ({ plan, instance, sopInstanceUid }) => {
    // The source and its copy are in memory together: reserve both before downloading.
    const release = await budget.reserve(2 * (instance.fileSize ?? UNKNOWN_FILE_BYTES));
    try {
      // Read into reused memory, up to what was reserved for it (a larger answer gets memory of its own).
      const reserved = instance.fileSize ?? UNKNOWN_FILE_BYTES;
      const source = firstImages.get(instance.orthancId) ?? (await client.instanceFile(instance.orthancId, (size) => (size <= reserved ? memory.take(size) : undefined)));
      const copy = derivePrivateCopy(source, { seriesInstanceUid: plan.seriesInstanceUid, sopInstanceUid, content: plan.content }, memory.take);
      // The copy keeps no view of its source (its bytes are copied into memory of its own, the rest are
      // strings and numbers): nothing reads the source any more. A first image kept for the read-back
      // was not lent by the pool, which ignores it.
      memory.give(source);
      const result = await uploadSlots(() => context.uploads.upload(copy.bytes, sopInstanceUid));
      // Orthanc answers only after reading the whole body: nothing reads the copy any more. A failed
      // upload's copy is not reused (a request cut short might still hold it).
      memory.give(copy.bytes);
      if (result.ParentStudy !== facts.orthancId) {
        throw new PrivateTagsError(`copy of ${instance.sopInstanceUid} landed in study ${result.ParentStudy}, expected ${facts.orthancId}`, { instance: result.ID });
      }
      addedBytes += copy.bytes.length;
    } finally {
      release();
    }
    uploaded.set(plan, (uploaded.get(plan) ?? 0) + 1);
    context.progress?.({ approach: 'private', done: ++done, total: jobs.length });
  });
  const verified: VerifiedCopy[] = [];
  for (const plan of plans) verified.push(await verifyCopy(client, facts, plan, uploaded.get(plan) ?? 0, firstImages));
  // Only now, with every copy of this version verified, do the copies of older versions go (issue 14).
  const superseded: SupersededReport = await removeSuperseded(client, facts, {
    root,
    digest: measurements.digest,
    current: new Set(plans.map((p) => p.seriesInstanceUid)),
    // The sources were read already and carry no block of ours: not read again.
    originals: new Set(sources.map((source) => source.orthancId)),
    keep: context.settings.keepSuperseded === true,
  });
  const images = verified.reduce((n, v) => n + v.instances, 0);
  return {
    approach: 'private',
    summary:
      `${verified.length} derived series (${images} images${scope === 'series' ? ', one per series' : ''}) with private block ${KIDNEY_CREATOR}: ` +
      verified.map((v) => `${v.seriesInstanceUid} from ${v.sourceSeriesInstanceUid} at ${v.creatorSlot}`).join(', '),
    alreadyPresent: jobs.length === 0,
    details: {
      creator: KIDNEY_CREATOR,
      scope,
      lines: plans[0]?.content.lines ?? [],
      series: verified,
      // What this run added to Orthanc's storage, and what the copies occupy in all.
      addedBytes,
      storedBytes: verified.reduce((n, v) => n + v.storedBytes, 0),
      superseded,
    },
    outputSeries: verified.map((v) => v.orthancId),
  };
}

/**
 * Image series that are not copies we made (recognised by description, or by our block in their
 * first image), with the first images read for that kept by Orthanc ID (up to FIRST_IMAGES_BYTES):
 * the copy of that image and the read-back comparison use them instead of downloading them again.
 */
async function sourceSeries(client: OrthancClient, facts: StudyFacts): Promise<{ sources: SeriesFacts[]; firstImages: Map<string, Buffer> }> {
  const sources: SeriesFacts[] = [];
  const firstImages = new Map<string, Buffer>();
  let kept = 0;
  for (const series of facts.series.filter(isImageSeries)) {
    const first = series.instances[0];
    const bytes = first ? await client.instanceFile(first.orthancId) : undefined;
    if (ownBlockIn(series, bytes) !== undefined) continue;
    sources.push(series);
    if (first && bytes && kept + bytes.length <= FIRST_IMAGES_BYTES) {
      firstImages.set(first.orthancId, bytes);
      kept += bytes.length;
    }
  }
  return { sources, firstImages };
}

/** Our block in the series' first image; a series described as a copy counts as ours even without one. */
async function ownBlockOf(client: OrthancClient, series: SeriesFacts): Promise<FoundKidneyBlock | 'described' | undefined> {
  const first = series.instances[0];
  return ownBlockIn(series, first ? await client.instanceFile(first.orthancId) : undefined);
}

function ownBlockIn(series: SeriesFacts, firstImage: Buffer | undefined): FoundKidneyBlock | 'described' | undefined {
  const block = firstImage ? readKidneyBlock(firstImage) : undefined;
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
): Promise<{ id: string; sopInstanceUids: string[]; ids: Map<string, string>; bytes: number } | undefined> {
  let match: { ID: string } | undefined;
  for (const candidate of (await client.lookup(seriesInstanceUid)).filter((r) => r.Type === 'Series')) {
    if ((await client.series(candidate.ID)).ParentStudy === facts.orthancId) match = candidate;
  }
  if (!match) return undefined;
  const instances = await client.seriesInstances(match.ID);
  const ids = new Map(instances.map((i) => [i.MainDicomTags['SOPInstanceUID'] ?? '', i.ID]));
  return { id: match.ID, sopInstanceUids: [...ids.keys()], ids, bytes: instances.reduce((n, i) => n + (i.FileSize ?? 0), 0) };
}

/** Checks that Orthanc holds exactly the expected copies, and reads the first one back to find our block by creator. */
async function verifyCopy(client: OrthancClient, facts: StudyFacts, plan: SeriesPlan, uploaded: number, firstImages: ReadonlyMap<string, Buffer>): Promise<VerifiedCopy> {
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
  const sourceId = (plan.instances[0] as InstanceFacts).orthancId;
  const differences = compareWithSource(firstImages.get(sourceId) ?? (await client.instanceFile(sourceId)), copy);
  const problem = blockProblem(block, plan.content) ?? (onlyIntendedChanges(differences) ? undefined : `differs from its source: ${JSON.stringify(differences)}`);
  if (problem) throw new PrivateTagsError(`read-back of ${firstId} in derived series ${plan.seriesInstanceUid}: ${problem}`, details);
  const slot = (block as FoundKidneyBlock).slot.toString(16).toUpperCase().padStart(4, '0');
  return { ...details, orthancId: stored.id, instances: expected.size, uploaded, storedBytes: stored.bytes, creatorSlot: `(0011,${slot})` };
}

/** What differs between the block read back and the one we meant to write, or undefined when they agree. */
function blockProblem(block: FoundKidneyBlock | undefined, wanted: KidneyBlockContent): string | undefined {
  if (!block) return `no private creator "${KIDNEY_CREATOR}" in group 0011`;
  if (JSON.stringify(block.lines) !== JSON.stringify(wanted.lines)) return `text lines ${JSON.stringify(block.lines)}, expected ${JSON.stringify(wanted.lines)}`;
  if (JSON.stringify(block.volumesMl) !== JSON.stringify(wanted.volumesMl)) return `volumes ${JSON.stringify(block.volumesMl)}, expected ${JSON.stringify(wanted.volumesMl)}`;
  if (block.digest !== wanted.digest) return `digest ${block.digest}, expected ${wanted.digest}`;
  if (JSON.stringify(block.estimates ?? []) !== JSON.stringify(wanted.estimates ?? [])) return `ellipsoid estimates ${JSON.stringify(block.estimates ?? [])}, expected ${JSON.stringify(wanted.estimates ?? [])}`;
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
  // A copy of every image, or the single derived image of scope "series" (KV_PRIVATE_SCOPE).
  const complete = (c: (typeof copies)[number]): boolean =>
    c.block !== undefined && c.source !== undefined && (c.series.instances.length === c.source.instances.length || c.series.instances.length === 1);
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
      // Bytes the derived series occupy in Orthanc (issue 17: the private approach costs storage).
      storedBytes: copies.reduce((n, c) => n + c.series.instances.reduce((m, i) => m + (i.fileSize ?? 0), 0), 0),
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
