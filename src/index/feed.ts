/**
 * Keeps the study index in step with Orthanc: follows the changes log with its own cursor (kept in
 * the index file), so every replica's index sees every study whichever replica wrote its status,
 * and fills the index from Orthanc's study list when it is new, was corrupt, or Orthanc's log went
 * backwards. It only reads Orthanc.
 *
 * What it reads follows what a change can have changed (issue 17: the index's reads were a third of
 * a study's requests). A metadata write (`UpdatedMetadata`) changes only our mark and status, so a
 * listed study costs one metadata read; the study's own fields (patient, accession, date,
 * modalities) change only when instances do, and Orthanc logs `StableStudy` StableAge after the last
 * one, so they are read then, on first sight, and on `NewStudy` of a listed study (deleted and sent
 * again). A study's row can therefore show its old patient name or modalities until StableAge after
 * new instances arrived (10 s in orthanc/orthanc.json); its state is never older than one poll.
 */
import { errorKind, messageOf, NotFoundError } from '../errors.js';
import { recordedDigest } from '../measurements/parse.js';
import type { ChangesFollowerDeps } from '../orthanc/follower.js';
import { METADATA } from '../orthanc/metadata.js';
import { mapLimit } from '../pipeline/concurrency.js';
import { parseStatus, type StudyStatus } from '../status/status.js';
import { rowOf, statusFieldsOf, studyFieldsOf, type StatusFields, type StudyFields, type StudyRow } from './row.js';
import type { StudyIndex } from './store.js';

/** Changes read per page of the log. */
const PAGE = 1000;
/** Studies read from Orthanc at once during a rebuild: enough to overlap round trips, few enough not to crowd the sidecar. */
const REBUILD_CONCURRENCY = 4;
/** Studies whose series' modalities are remembered between refreshes. */
const MODALITIES_REMEMBERED = 1000;

/** What the follower needs. */
export interface IndexFeedDeps extends ChangesFollowerDeps {
  readonly index: StudyIndex;
  /**
   * How often to look for studies Orthanc deleted (default 60 s): Orthanc drops a deleted study's
   * entries from its changes log instead of logging the deletion, so the feed cannot show it.
   */
  readonly deletedCheckMs?: number;
  readonly now: () => Date;
}

/** Where the follower stands, for the health panel. */
export interface IndexFeedState {
  readonly cursor: number | undefined;
  /** Changes between the index's cursor and Orthanc's head at the last read. */
  readonly lag: number;
  /** Set while the index is being filled from Orthanc's study list. */
  readonly rebuild?: { readonly done: number; readonly total: number };
  readonly lastError?: string;
}

/** The replica that wrote a status, and when. */
type ReplicaSeen = { readonly name: string; readonly at: string };

/** One study's write to the index, read from Orthanc before it is made. */
type RowUpdate =
  | { readonly kind: 'upsert'; readonly row: StudyRow; readonly replica?: ReplicaSeen }
  | { readonly kind: 'status'; readonly studyId: string; readonly status: StatusFields; readonly replica?: ReplicaSeen }
  | { readonly kind: 'fields'; readonly studyId: string; readonly fields: StudyFields }
  | { readonly kind: 'remove'; readonly studyId: string }
  | { readonly kind: 'deleted'; readonly studyId: string }
  | { readonly kind: 'none' };

/** What a page of the log says happened to one study, and so what must be read of it. */
interface Touched {
  /** Our metadata was written: the mark and status. */
  metadata: boolean;
  /** Its instances changed (StableStudy): its own fields. */
  instances: boolean;
  /** Created (again): a listed study with this ID was deleted meanwhile. */
  created: boolean;
}

/** Follows Orthanc's changes into the index. */
export class IndexFeed {
  private stopping = false;
  private running: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private lag = 0;
  private rebuildProgress: { done: number; total: number } | undefined;
  private lastError: string | undefined;
  private lastDeletedCheck = 0;
  /** Each recently refreshed study's series (IDs) and their modalities. */
  private readonly modalitiesSeen = new Map<string, { series: string; modalities: string }>();

  constructor(private readonly deps: IndexFeedDeps) {}

  /** Starts following (filling the index first when it has no cursor). */
  start(): void {
    this.running = this.loop();
  }

  /** Stops after the page in hand. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.running;
  }

  /** Where the follower stands. */
  get state(): IndexFeedState {
    return {
      cursor: this.deps.index.cursor,
      lag: this.lag,
      ...(this.rebuildProgress ? { rebuild: { ...this.rebuildProgress } } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  /**
   * Reads one study's marks from Orthanc into the index now and answers its row (undefined when it
   * carries none of our marks). The page calls it through the API when an event names the study,
   * so a row shows the new state without waiting for the next poll. Events are about the status:
   * a listed study's is one metadata read, and its own fields follow StableStudy as in the feed.
   */
  async refresh(studyId: string): Promise<StudyRow | undefined> {
    this.apply(await this.readTouched(studyId, { metadata: true, instances: false, created: false }));
    return this.deps.index.get(studyId);
  }

  /** What Orthanc says of one study now, mark, status and study fields, as the index's write to make (no write yet). */
  private async read(studyId: string): Promise<RowUpdate> {
    const { client } = this.deps;
    try {
      // Both marks in one call (no revisions needed here); NotFoundError when the study is gone.
      const metadata = await client.studyMetadataAll(studyId);
      const marks = marksOf(metadata);
      if (marks === undefined) return { kind: 'remove', studyId };
      const study = await client.study(studyId);
      // ModalitiesInStudy is only in Orthanc's main tags when the modality sent it: take the series' own.
      const modalities = study.MainDicomTags['ModalitiesInStudy'] || (await this.seriesModalities(studyId, study.Series));
      const row = rowOf({ ...study, MainDicomTags: { ...study.MainDicomTags, ModalitiesInStudy: modalities } }, marks.status, marks.pendingDigest, this.deps.now());
      return { kind: 'upsert', row, ...replicaOf(marks.status) };
    } catch (error) {
      if (error instanceof NotFoundError) return { kind: 'deleted', studyId };
      throw error;
    }
  }

  /** A listed study's mark and status only (one request): what a metadata write can have changed. */
  private async readStatus(studyId: string): Promise<RowUpdate> {
    try {
      const marks = marksOf(await this.deps.client.studyMetadataAll(studyId));
      if (marks === undefined) return { kind: 'remove', studyId };
      return { kind: 'status', studyId, status: statusFieldsOf(marks.status, marks.pendingDigest, this.deps.now()), ...replicaOf(marks.status) };
    } catch (error) {
      if (error instanceof NotFoundError) return { kind: 'deleted', studyId };
      throw error;
    }
  }

  /** A listed study's own fields only (its main tags, and its series when they changed): what new instances can have changed. */
  private async readStudyFields(studyId: string): Promise<RowUpdate> {
    try {
      const study = await this.deps.client.study(studyId);
      const modalities = study.MainDicomTags['ModalitiesInStudy'] || (await this.seriesModalities(studyId, study.Series));
      return { kind: 'fields', studyId, fields: studyFieldsOf({ ...study, MainDicomTags: { ...study.MainDicomTags, ModalitiesInStudy: modalities } }) };
    } catch (error) {
      if (error instanceof NotFoundError) return { kind: 'deleted', studyId };
      throw error;
    }
  }

  /**
   * What to read of one study a page of the log touched: everything when the index does not list
   * it (or lists it as deleted) or it was created again; otherwise only what the changes can have
   * changed. A study the index does not list and whose metadata was not written carries no mark
   * that the index has not seen: nothing to read.
   */
  private readTouched(studyId: string, touched: Touched): Promise<RowUpdate> {
    const row = this.deps.index.get(studyId);
    const listed = row !== undefined && row.state !== 'deleted';
    if (!listed) return touched.metadata ? this.read(studyId) : Promise.resolve({ kind: 'none' });
    if (touched.created || (touched.metadata && touched.instances)) return this.read(studyId);
    return touched.metadata ? this.readStatus(studyId) : this.readStudyFields(studyId);
  }

  /** Makes one write read() decided on. */
  private apply(update: RowUpdate): void {
    const { index } = this.deps;
    if (update.kind === 'remove') index.remove(update.studyId);
    else if (update.kind === 'deleted') index.markDeleted(update.studyId, this.deps.now());
    // A row dropped since it was read (its marks removed) stays dropped: a later mark is a later change.
    else if (update.kind === 'status') index.updateStatus(update.studyId, update.status);
    else if (update.kind === 'fields') index.updateStudyFields(update.studyId, update.fields);
    else if (update.kind === 'upsert') index.upsert(update.row);
    if ((update.kind === 'upsert' || update.kind === 'status') && update.replica) index.sawReplica(update.replica.name, update.replica.at);
  }

  /**
   * The modalities of a study's series, backslash-separated: read from Orthanc, or remembered from
   * the last refresh of the study when it still has the same series (a series' modality does not
   * change), so the several refreshes of one study's writes read its series once (issue 17).
   */
  private async seriesModalities(studyId: string, seriesIds: readonly string[]): Promise<string> {
    const key = [...seriesIds].sort().join(',');
    const known = this.modalitiesSeen.get(studyId);
    if (known?.series === key) return known.modalities;
    const modalities = [...new Set((await this.deps.client.studySeries(studyId)).map((s) => s.MainDicomTags['Modality'] ?? '').filter((m) => m !== ''))].sort().join('\\');
    // Bounded: only the studies being written now matter; the oldest entry goes first.
    if (this.modalitiesSeen.size >= MODALITIES_REMEMBERED) this.modalitiesSeen.delete(this.modalitiesSeen.keys().next().value as string);
    this.modalitiesSeen.delete(studyId);
    this.modalitiesSeen.set(studyId, { series: key, modalities });
    return modalities;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        if (this.deps.index.cursor === undefined) await this.rebuild();
        const more = await this.readPage();
        if (Date.now() - this.lastDeletedCheck >= (this.deps.deletedCheckMs ?? 60_000)) await this.findDeleted();
        failures = 0;
        this.lastError = undefined;
        if (!more) await this.sleep(this.deps.pollIntervalMs);
      } catch (error) {
        failures++;
        this.lastError = messageOf(error);
        const delay = Math.min(this.deps.pollIntervalMs * 2 ** Math.min(failures, 6), 30_000);
        this.deps.log.warn({ event: 'index-error', kind: errorKind(error), retryInMs: delay, err: error }, `study index: ${messageOf(error)}`);
        await this.sleep(delay);
      }
    }
  }

  /** Takes in one page of changes; answers true when more wait. */
  private async readPage(): Promise<boolean> {
    const { client, index } = this.deps;
    const cursor = index.cursor ?? 0;
    const page = await client.changes(cursor, PAGE);
    if (page.Last < cursor) {
      this.deps.log.warn({ event: 'index-log-reset', cursor, last: page.Last }, "Orthanc's changes log went backwards; rebuilding the study index");
      index.clear();
      return true;
    }
    const touched = new Map<string, Touched>();
    const deleted = new Set<string>();
    for (const change of page.Changes) {
      if (change.ResourceType !== 'Study') continue;
      if (change.ChangeType === 'Deleted') deleted.add(change.ID);
      const what = change.ChangeType === 'UpdatedMetadata' ? 'metadata' : change.ChangeType === 'StableStudy' ? 'instances' : change.ChangeType === 'NewStudy' ? 'created' : undefined;
      if (what === undefined) continue;
      const seen = touched.get(change.ID) ?? { metadata: false, instances: false, created: false };
      seen[what] = true;
      touched.set(change.ID, seen);
    }
    // Read every touched study first, then write the page in one transaction.
    const updates: RowUpdate[] = [];
    for (const [id, what] of touched) if (!deleted.has(id)) updates.push(await this.readTouched(id, what));
    index.batch(() => {
      for (const update of updates) this.apply(update);
      for (const id of deleted) index.markDeleted(id, this.deps.now());
      if (page.Last !== cursor) index.setCursor(page.Last);
    });
    this.lag = page.Done ? 0 : Math.max(0, (await client.lastChangeSeq()) - page.Last);
    return !page.Done;
  }

  /** Marks deleted the listed studies Orthanc no longer has. */
  private async findDeleted(): Promise<void> {
    this.lastDeletedCheck = Date.now();
    const present = new Set(await this.deps.client.studyIds());
    for (const id of this.deps.index.liveStudyIds()) if (!present.has(id)) this.deps.index.markDeleted(id, this.deps.now());
  }

  /** Fills the index from every study in Orthanc; the log's head is taken first so nothing falls between. */
  private async rebuild(): Promise<void> {
    const { client, index, log } = this.deps;
    const head = await client.lastChangeSeq();
    const ids = await client.studyIds();
    const started = Date.now();
    log.info({ event: 'index-rebuild', studies: ids.length, openedAs: index.openedAs }, 'filling the study index from Orthanc');
    this.rebuildProgress = { done: 0, total: ids.length };
    await mapLimit(ids, REBUILD_CONCURRENCY, async (id) => {
      if (this.stopping) return;
      this.apply(await this.read(id));
      if (this.rebuildProgress) this.rebuildProgress.done++;
    });
    if (this.stopping) return;
    index.setCursor(head);
    this.rebuildProgress = undefined;
    log.info({ event: 'index-rebuilt', studies: ids.length, durationMs: Date.now() - started }, 'study index filled');
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
    });
  }
}

/** Our marks on a study, from its metadata; undefined when it carries neither a pending mark nor a status. */
function marksOf(metadata: Record<string, string>): { readonly status: StudyStatus | undefined; readonly pendingDigest: string } | undefined {
  const pending = metadata[METADATA.pending];
  const status = metadata[METADATA.status];
  if (pending === undefined && status === undefined) return undefined;
  return { status: status !== undefined ? parseStatus(status) : undefined, pendingDigest: pending !== undefined ? recordedDigest(pending) : '' };
}

/** The replica a status names, as an update's field. */
function replicaOf(status: StudyStatus | undefined): { replica?: ReplicaSeen } {
  return status?.owner ? { replica: { name: status.owner, at: status.updatedAt } } : {};
}
