/**
 * Uploads into a study that may be deleted while we write. Orthanc files an instance by its
 * PatientID and StudyInstanceUID, so a copy uploaded after an admin deleted the study silently
 * re-creates it. The guard checks that the study is still there before each batch of uploads,
 * records what this run created, and removes exactly that (never an original) when the study
 * turns out to have been deleted meanwhile.
 */
import { KidneyVolumesError, NotFoundError } from '../errors.js';
import type { OrthancClient } from '../orthanc/client.js';
import type { UploadResult } from '../orthanc/types.js';
import type { StudyFacts } from '../study/facts.js';

/** Uploads between two presence checks: a check costs one small GET, an upload a whole image. */
export const UPLOAD_BATCH = 16;

/** The study was deleted while we wrote into it; what this run had uploaded was removed again. */
export class StudyDeletedError extends KidneyVolumesError {
  /** Makes the error; `removed` counts the instances of this run deleted again. */
  constructor(
    readonly studyId: string,
    readonly studyInstanceUid: string,
    readonly removed: number,
  ) {
    super(
      'not-found',
      `study ${studyInstanceUid} (Orthanc ${studyId}) was deleted while kidney-volumes was writing into it; ` +
        `${removed} instance(s) this run had uploaded were removed again and no status was written, so nothing of the study is left`,
      { studyId, studyInstanceUid, removed, deleted: true },
    );
    this.name = 'StudyDeletedError';
  }
}

/** One instance this run created. */
interface Created {
  readonly orthancId: string;
  readonly sopInstanceUid: string;
}

/** Guards the uploads of one run into one study. */
export class UploadGuard {
  private readonly created: Created[] = [];
  /** Series this run uploaded into: once the study is deleted, an upload re-creates them under the same Orthanc IDs. */
  private readonly writtenSeries = new Set<string>();
  private readonly originalSeries: ReadonlySet<string>;
  private readonly originalInstances: ReadonlySet<string>;
  private sinceCheck = 0;
  private lastCheck: Promise<void> | undefined;
  private nextCheck: Promise<void> | undefined;
  /** Uploads sent so far, and those not answered yet. */
  private uploadsSent = 0;
  private uploadsInFlight = 0;
  /** An upload failed without an answer: it may still land, at any time. */
  private uploadUnsure = false;
  /** uploadsSent when the last check that found the study present began, none in flight then (settle). */
  private presentAfter: number | undefined;

  constructor(
    private readonly client: OrthancClient,
    private readonly facts: StudyFacts,
    private readonly batch = UPLOAD_BATCH,
  ) {
    this.originalSeries = new Set(facts.series.map((s) => s.orthancId));
    this.originalInstances = new Set(facts.series.flatMap((s) => s.instances.map((i) => i.orthancId)));
  }

  /** How many instances this run created so far. */
  get createdCount(): number {
    return this.created.length;
  }

  /**
   * Stores Part-10 bytes whose SOP Instance UID is `sopInstanceUid`, after checking (once per batch)
   * that the study still exists; throws StudyDeletedError-to-be (NotFoundError) when it does not.
   */
  async upload(bytes: Buffer, sopInstanceUid: string): Promise<UploadResult> {
    if (this.lastCheck === undefined || this.sinceCheck >= this.batch) {
      this.sinceCheck = 0;
      this.lastCheck = this.nextCheck ?? this.requirePresent();
      this.nextCheck = undefined;
    } else if (this.sinceCheck === this.batch - Math.floor(this.batch / 4)) {
      // The next batch's check is asked for during the last quarter of this one, so that the
      // uploads do not all stop while it is answered (issue 17: with Orthanc busy ingesting, a check
      // took up to 30 ms, 13 times per 200 images); it is still made after this batch began.
      this.nextCheck = this.requirePresent();
      this.nextCheck.catch(() => undefined);
    }
    this.sinceCheck++;
    await this.lastCheck;
    this.uploadsSent++;
    this.uploadsInFlight++;
    let result: UploadResult;
    try {
      result = await this.client.upload(bytes);
    } catch (error) {
      this.uploadUnsure = true;
      throw error;
    } finally {
      this.uploadsInFlight--;
    }
    // AlreadyStored created nothing: its series was there already (after a deletion nothing is).
    if (result.Status !== 'AlreadyStored') {
      this.writtenSeries.add(result.ParentSeries);
      this.created.push({ orthancId: result.ID, sopInstanceUid });
    }
    return result;
  }

  /** Throws NotFoundError when the study is gone (checked now, not cached): before a metadata write, say. */
  async requirePresent(): Promise<void> {
    if (!(await this.present())) throw new NotFoundError('study', `${this.facts.studyInstanceUid} (Orthanc ${this.facts.orthancId}, deleted while being written)`);
  }

  /**
   * True when the study still holds a series it held when the run began and this run did not
   * upload into. A study that only holds series we wrote into (even one an earlier run began, which
   * an upload after the deletion re-creates under the same Orthanc ID) is a study we re-created.
   */
  async present(): Promise<boolean> {
    const sent = this.uploadsSent;
    const quiet = this.uploadsInFlight === 0;
    let present: boolean;
    try {
      const study = await this.client.study(this.facts.orthancId);
      present = study.Series.some((id) => this.originalSeries.has(id) && !this.writtenSeries.has(id));
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      present = false;
    }
    if (!present) this.presentAfter = undefined;
    else if (quiet) this.presentAfter = Math.max(this.presentAfter ?? 0, sent);
    return present;
  }

  /**
   * Deletes what this run created, each instance checked first: it must still carry the SOP
   * Instance UID we wrote and must not be an instance the study held before the run.
   */
  async removeCreated(): Promise<number> {
    let removed = 0;
    for (const c of this.created) {
      if (this.originalInstances.has(c.orthancId)) continue;
      let sop: string | undefined;
      try {
        sop = (await this.client.instance(c.orthancId)).MainDicomTags['SOPInstanceUID'];
      } catch (error) {
        if (error instanceof NotFoundError) continue;
        throw error;
      }
      if (sop !== c.sopInstanceUid) continue;
      await this.client.deleteInstance(c.orthancId);
      removed++;
    }
    return removed;
  }

  /**
   * After the run (or its failure): when the study was deleted meanwhile, removes what this run
   * created and throws StudyDeletedError; otherwise does nothing.
   */
  async settle(): Promise<void> {
    // Only an upload re-creates a deleted study (a metadata write to it answers 404). A check that
    // began after every upload was answered and found the study present already says what this one
    // would: whatever was deleted since took our uploads with it (issue 17: the FHIR write's check
    // serves, one request per study). An upload that failed unanswered may land at any time: then
    // the study is looked at again.
    if (!this.uploadUnsure && this.presentAfter === this.uploadsSent) return;
    if (await this.present()) return;
    const removed = await this.removeCreated();
    throw new StudyDeletedError(this.facts.orthancId, this.facts.studyInstanceUid, removed);
  }
}
