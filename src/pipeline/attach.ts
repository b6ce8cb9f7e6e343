/** What happens to one study: read its facts once, run each requested writer step, report. */
import type { DicomOrigin } from '../measurements/origin.js';
import { originStep } from './origin-steps.js';
import { errorKind, KidneyVolumesError, messageOf, NotAvailableError, type ErrorKind } from '../errors.js';
import type { MeasurementSet } from '../measurements/model.js';
import { isOrthancId, type OrthancClient } from '../orthanc/client.js';
import type { StudyFacts } from '../study/facts.js';
import { APPROACHES, APPROACH_TITLES, type Approach, type Progress, type StepOutcome, type WriterOutcome, type WriterSettings } from './approaches.js';
import { outcomeRecord, writtenOutputs, type OutcomeRecord } from './outcomes.js';
import { coverageOf, type StudyCoverage } from './coverage.js';
import { readStudyFacts } from './read-facts.js';
import { STEPS } from './steps.js';
import { StudyDeletedError, UploadGuard } from './study-guard.js';

/** What attach did. */
export interface AttachReport {
  readonly studyId: string;
  readonly studyInstanceUid: string;
  readonly measurements: MeasurementSet;
  readonly outcomes: readonly StepOutcome[];
  /** What the run read and wrote, so the sidecar notices when the study grows afterwards. */
  readonly coverage: StudyCoverage;
}

/** One approach that failed while others may have been written. */
export interface StepFailure {
  readonly approach: Approach;
  readonly kind: ErrorKind;
  readonly message: string;
}

/**
 * Some approaches failed: `written` lists what the others wrote (and verified), `failures` why the
 * rest did not. Its kind is the first failure's, so the exit code names the real cause.
 */
export class PartialAttachError extends KidneyVolumesError {
  /** What was written, without the FHIR Bundle (the error is logged and printed). */
  readonly written: readonly OutcomeRecord[];

  constructor(
    written: readonly StepOutcome[],
    readonly failures: readonly StepFailure[],
  ) {
    const first = failures[0] as StepFailure;
    const wrote = written.length > 0 ? written.map((o) => `${o.approach} (${o.summary})`).join('; ') : 'nothing';
    super(first.kind, `${failures.map((f) => `${f.approach} failed: ${f.message}`).join('; ')}. Written and verified: ${wrote}`, {
      written: written.map((o) => o.approach),
      failures,
    });
    this.written = written.map(outcomeRecord);
    this.name = 'PartialAttachError';
  }
}

/** I/O and settings for attach. */
export interface AttachDeps {
  readonly client: OrthancClient;
  readonly settings: WriterSettings;
  readonly now: () => Date;
  readonly progress?: (progress: Progress) => void;
  /** Called before each step and delivery; throwing stops the run (the sidecar checks its lease here). */
  readonly beforeStep?: () => void;
  /** Called as each write lands, for logs. */
  readonly onWrite?: (outcome: StepOutcome) => void;
  /** The DICOM object the measurements were read from (issue 16): its SR is not written again, its images not copied again. */
  readonly origin?: DicomOrigin;
  /**
   * The study's metadata (names to values, no revisions) as the caller read it when this check
   * began, so that a step need not read again what was absent then (issue 17). A write based on it
   * is create-only, so a value written since makes it fail like any lost race.
   */
  readonly metadataSeen?: Readonly<Record<string, string>>;
}

/** Throws NotAvailableError naming each requested approach this build cannot write yet. */
export function requireAvailable(approaches: readonly Approach[]): void {
  const missing = approaches.filter((a) => STEPS[a] === undefined);
  if (missing.length === 0) return;
  const available = APPROACHES.filter((a) => STEPS[a] !== undefined);
  throw new NotAvailableError(
    `not available yet in this version: ${missing.map((a) => `${a} (${APPROACH_TITLES[a]})`).join(', ')}; ` +
      `available: ${available.length > 0 ? available.join(', ') : 'none'}. Nothing was written.`,
  );
}

/** Faults that stop the whole run: Orthanc away, the claim lost, the study gone. Any other failure is one approach's alone. */
const STOPS_THE_RUN: ReadonlySet<ErrorKind> = new Set(['orthanc-unreachable', 'orthanc-auth', 'not-found']);

function stopsTheRun(error: unknown): boolean {
  // By name: the lease lives in src/sidecar, which depends on the pipeline, not the other way round.
  return STOPS_THE_RUN.has(errorKind(error)) || (error instanceof Error && error.name === 'LeaseLostError');
}

/**
 * Writes the measurements into the study in each approach, in the standard order. One approach's
 * failure does not keep the others from being written; they are reported with it (PartialAttachError).
 * A study deleted meanwhile loses what this run uploaded again (StudyDeletedError).
 */
export async function attach(deps: AttachDeps, studyIdOrUid: string, measurements: MeasurementSet, approaches: readonly Approach[]): Promise<AttachReport> {
  // An Orthanc ID needs no look-up: reading the facts below fails with the same NotFoundError when it names no study.
  const studyId = isOrthancId(studyIdOrUid) ? studyIdOrUid.trim() : await deps.client.resolveStudy(studyIdOrUid);
  requireAvailable(approaches);
  const facts = await readStudyFacts(deps.client, studyId);
  const uploads = new UploadGuard(deps.client, facts);
  try {
    const outcomes = await runSteps(deps, facts, uploads, measurements, approaches);
    await uploads.settle();
    return { studyId, studyInstanceUid: facts.studyInstanceUid, measurements, outcomes, coverage: coverageOf(facts, outcomes) };
  } catch (error) {
    if (error instanceof StudyDeletedError) throw error;
    // A failure may be the deletion seen from inside a step (a 404): say so, and clean up after it.
    const gone = await uploads.present().then((present) => !present, () => false);
    if (gone) await uploads.settle();
    throw error;
  }
}

async function runSteps(
  deps: AttachDeps,
  facts: StudyFacts,
  uploads: UploadGuard,
  measurements: MeasurementSet,
  approaches: readonly Approach[],
): Promise<StepOutcome[]> {
  const outcomes: WriterOutcome[] = [];
  const failures: { approach: Approach; error: unknown }[] = [];
  for (const approach of APPROACHES.filter((a) => approaches.includes(a))) {
    const write = originStep(approach, deps.origin, measurements) ?? STEPS[approach]?.write;
    if (!write) continue;
    deps.beforeStep?.();
    try {
      const outcome = await write({
        client: deps.client,
        facts,
        measurements,
        now: deps.now(),
        settings: deps.settings,
        earlier: [...outcomes],
        uploads,
        ...(deps.origin ? { origin: deps.origin } : {}),
        ...(deps.progress ? { progress: deps.progress } : {}),
        ...(deps.metadataSeen ? { metadataSeen: deps.metadataSeen } : {}),
      });
      deps.onWrite?.(outcome);
      outcomes.push(outcome);
    } catch (error) {
      if (stopsTheRun(error)) throw error;
      failures.push({ approach, error });
    }
  }
  const [only] = failures;
  if (only !== undefined && failures.length === 1 && outcomes.length === 0) throw only.error;
  if (failures.length > 0) {
    // Deliveries send a complete result or nothing: a retry after the fix delivers it.
    throw new PartialAttachError(
      outcomes,
      failures.map((f) => ({ approach: f.approach, kind: errorKind(f.error), message: messageOf(f.error) })),
    );
  }
  // Deliveries send what the steps stored; a failure throws, so a study is never done with a destination unserved.
  deps.beforeStep?.();
  if (deps.settings.delivery === undefined) return outcomes;
  // Loaded only when a destination is configured: HL7, DICOMweb and forwarding cost start-up time (issue 17).
  const { runDeliveries } = await import('../delivery/run.js');
  const delivered = await runDeliveries({ client: deps.client, facts, measurements, now: deps.now(), written: writtenOutputs(outcomes), settings: deps.settings.delivery });
  for (const outcome of delivered) deps.onWrite?.(outcome);
  return [...outcomes, ...delivered];
}
