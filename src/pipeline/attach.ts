/** What happens to one study: read its facts once, run each requested writer step, report. */
import { runDeliveries } from '../delivery/run.js';
import type { DicomOrigin } from '../inputs/origin.js';
import { originStep } from '../inputs/steps.js';
import { NotAvailableError } from '../errors.js';
import type { MeasurementSet } from '../measurements/model.js';
import type { OrthancClient } from '../orthanc/client.js';
import { APPROACHES, APPROACH_TITLES, type Approach, type Progress, type StepOutcome, type WriterSettings } from './approaches.js';
import { readStudyFacts } from './read-facts.js';
import { STEPS } from './steps.js';

/** What attach did. */
export interface AttachReport {
  readonly studyId: string;
  readonly studyInstanceUid: string;
  readonly measurements: MeasurementSet;
  readonly outcomes: readonly StepOutcome[];
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

/** Writes the measurements into the study in each approach, in the standard order. */
export async function attach(deps: AttachDeps, studyIdOrUid: string, measurements: MeasurementSet, approaches: readonly Approach[]): Promise<AttachReport> {
  const studyId = await deps.client.resolveStudy(studyIdOrUid);
  requireAvailable(approaches);
  const facts = await readStudyFacts(deps.client, studyId);
  const outcomes: StepOutcome[] = [];
  for (const approach of APPROACHES.filter((a) => approaches.includes(a))) {
    const write = originStep(approach, deps.origin) ?? STEPS[approach]?.write;
    if (!write) continue;
    deps.beforeStep?.();
    const outcome = await write({
      client: deps.client,
      facts,
      measurements,
      now: deps.now(),
      settings: deps.settings,
      earlier: [...outcomes],
      ...(deps.origin ? { origin: deps.origin } : {}),
      ...(deps.progress ? { progress: deps.progress } : {}),
    });
    deps.onWrite?.(outcome);
    outcomes.push(outcome);
  }
  // Deliveries send what the steps stored; a failure throws, so a study is never done with a destination unserved.
  deps.beforeStep?.();
  const delivered = await runDeliveries({ client: deps.client, facts, measurements, now: deps.now(), written: [...outcomes], settings: deps.settings.delivery });
  for (const outcome of delivered) deps.onWrite?.(outcome);
  outcomes.push(...delivered);
  return { studyId, studyInstanceUid: facts.studyInstanceUid, measurements, outcomes };
}
