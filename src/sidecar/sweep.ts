/**
 * The sweep: finds studies that ask for work which the changes feed cannot show (marks written
 * while the sidecar was down, a restored database, and on 1.12 labels, which never enter the log).
 * On an Orthanc with labels and MetadataQuery it asks /tools/find for exactly those studies; on
 * 1.10 it pages through every study, one page per turn of the sidecar's loop, so the feed is read
 * between pages and never waits for a whole sweep.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import type { OrthancClient } from '../orthanc/client.js';
import { orthancFeatures, studiesLabelled, studiesWithMetadata, type LabelSettings, type OrthancFeatures } from '../orthanc/labels.js';
import { recordedDigest } from '../measurements/parse.js';
import { METADATA } from '../orthanc/metadata.js';
import type { SegmentationSettings } from '../segmentation/settings.js';
import type { SidecarEvents } from './events.js';
import { onStableSeries } from './segmentation-trigger.js';
import { parseStatus, readStatus, statusOf, writeFinalStatus, type StudyStatus } from '../status/status.js';


/** Studies whose pending mark is checked per page on an Orthanc without MetadataQuery. */
export const SWEEP_PAGE = 100;

/** What the sweep needs. */
export interface SweepDeps {
  readonly client: OrthancClient;
  readonly log: Logger;
  readonly events: SidecarEvents;
  /** Full sweeps (every pending mark) this often. */
  readonly intervalMs: number;
  /** The request label, and how often labelled studies are looked for (1.12); absent: labels are not used. */
  readonly labels?: LabelSettings;
  readonly labelIntervalMs?: number;
  readonly segmentation: SegmentationSettings;
  /** Hands a study to the processing queue. */
  readonly enqueue: (studyId: string) => void;
  /** Sets the outcome labels of a study whose request was already answered. */
  readonly reflect: (studyId: string, state: 'done' | 'failed') => void;
  readonly now?: () => number;
  /** Studies per page on an Orthanc without MetadataQuery (default SWEEP_PAGE). */
  readonly pageSize?: number;
}

/** The sweep's state between turns of the loop. */
export class Sweep {
  private features: OrthancFeatures | undefined;
  private lastFull = -Infinity;
  private lastLabels = -Infinity;
  /** Offset of the next page while a paged sweep is under way. */
  private offset: number | undefined;
  private visited = 0;
  private found = 0;
  private started = 0;

  constructor(private readonly deps: SweepDeps) {}

  /** What /system said (read on the first turn). */
  async orthancFeatures(): Promise<OrthancFeatures> {
    this.features ??= await orthancFeatures(this.deps.client);
    return this.features;
  }

  /** Makes the next turn start a full sweep (the database was reset). */
  restart(): void {
    this.lastFull = -Infinity;
    this.offset = undefined;
    this.features = undefined;
  }

  /** One turn: a due label look-up, then a due full sweep or the next page of one under way. */
  async turn(): Promise<void> {
    const now = (this.deps.now ?? Date.now)();
    const features = await this.orthancFeatures();
    if (features.labels && this.deps.labels && now - this.lastLabels >= (this.deps.labelIntervalMs ?? this.deps.intervalMs)) {
      this.lastLabels = now;
      await this.labelled(this.deps.labels);
    }
    if (this.offset === undefined && now - this.lastFull < this.deps.intervalMs) return;
    if (this.offset === undefined) {
      this.lastFull = now;
      this.started = Date.now();
      this.visited = 0;
      this.found = 0;
      if (features.metadataQuery) {
        const ids = await studiesWithMetadata(this.deps.client, METADATA.pending);
        for (const id of ids) this.deps.enqueue(id);
        this.deps.log.info({ event: 'sweep', by: 'tools/find', pending: ids.length, ms: Date.now() - this.started }, 'sweep done');
        return;
      }
      this.offset = 0;
    }
    await this.page();
  }

  /** Checks one page of studies for a pending mark; ends the sweep after the last page. */
  private async page(): Promise<void> {
    const size = this.deps.pageSize ?? SWEEP_PAGE;
    const ids = await this.deps.client.studyIdsPage(this.offset ?? 0, size);
    for (const id of ids) {
      const pending = await this.deps.client.studyMetadata(id, METADATA.pending).catch(() => undefined);
      if (pending !== undefined) {
        this.deps.enqueue(id);
        this.found++;
      }
    }
    this.visited += ids.length;
    this.offset = ids.length < size ? undefined : (this.offset ?? 0) + ids.length;
    if (this.offset === undefined) {
      this.deps.log.info({ event: 'sweep', by: 'pages', studies: this.visited, pending: this.found, ms: Date.now() - this.started }, 'sweep done');
    }
  }

  /** Every study with the request label: processed when it has a pending mark, measured from its SEG or failed otherwise. */
  private async labelled(settings: LabelSettings): Promise<void> {
    const ids = await studiesLabelled(this.deps.client, settings.request);
    for (const id of ids) {
      try {
        await this.answerLabel(settings, id);
      } catch (error) {
        this.deps.log.warn({ studyId: id, event: 'label-request', err: error }, 'could not look at a labelled study; the next look-up tries again');
      }
    }
    if (ids.length > 0) this.deps.log.info({ event: 'label-sweep', label: settings.request, studies: ids.length }, 'labelled studies looked at');
  }

  private async answerLabel(settings: LabelSettings, studyId: string): Promise<void> {
    const pending = await this.deps.client.studyMetadata(studyId, METADATA.pending);
    if (pending !== undefined) {
      // Already done (or failed) for exactly these measurements: processing would find nothing to
      // do, so answer the request here, or the label would stay and be looked at forever.
      const status = parseStatus((await this.deps.client.studyMetadata(studyId, METADATA.status))?.value ?? '');
      const digest = recordedDigest(pending.value);
      if (status && status.digest === digest && (status.state === 'done' || status.state === 'failed')) this.deps.reflect(studyId, status.state);
      else this.deps.enqueue(studyId);
      return;
    }
    // No mark: the measurements must come from the study's DICOM. A SEG with kidney segments
    // becomes the pending mark (whose write then comes through the feed like any other).
    const reasons: string[] = [];
    const segs = (await this.deps.client.studySeries(studyId)).filter((s) => s.MainDicomTags['Modality'] === 'SEG');
    for (const series of segs) {
      const outcome = await onStableSeries(this.deps, series.ID);
      if (outcome.kind === 'marked' || outcome.kind === 'replaced' || outcome.kind === 'already-marked' || outcome.kind === 'kept-existing') {
        this.deps.enqueue(studyId);
        return;
      }
      if (outcome.kind === 'disabled') reasons.push(`SEG series ${series.ID} is not measured because KV_SEGMENTATION is off`);
      if (outcome.kind === 'no-kidney') reasons.push(...outcome.reasons);
    }
    const what = segs.length === 0 ? 'and no segmentation (SEG series) to measure the kidneys from' : `and its segmentation gave no kidney volumes: ${reasons.join('; ')}`;
    await this.fail(studyId, `study is labelled "${settings.request}" but has no ${METADATA.pending} mark ${what}; add the measurements (attach, the API, or ${METADATA.pending}) or a SEG with right and left kidney segments, then set the label again`);
  }

  /** Records a failed status for a label request that cannot be answered (once per message). */
  private async fail(studyId: string, message: string): Promise<void> {
    const digest = createHash('sha256').update(`label:${message}`).digest('hex');
    const stored = await readStatus(this.deps.client, studyId);
    const current = statusOf(stored);
    const at = new Date().toISOString();
    if (current?.state === 'failed' && current.digest === digest) {
      this.deps.reflect(studyId, 'failed');
      return;
    }
    const status: StudyStatus = { state: 'failed', digest, measurements: [], attempts: 1, createdAt: at, updatedAt: at, finishedAt: at, error: message, errorKind: 'usage' };
    // Compare-and-set, without reading the new ETag back: nothing of the sweep's writes over it.
    if ((await writeFinalStatus(this.deps.client, studyId, stored, status)) === undefined) return;
    this.deps.events.emit({ kind: 'failed', studyId, at, digest, message });
    this.deps.log.warn({ studyId, event: 'label-request-failed' }, message);
  }
}
