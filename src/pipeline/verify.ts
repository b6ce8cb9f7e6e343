/** Reads back and reports what is stored for a study: the marks, and each approach's outputs. */
import { originStored, pendingEstimated, pendingOrigin } from './origin-verify.js';
import type { OrthancClient } from '../orthanc/client.js';
import { APPROACHES, type Approach, type StoredOutcome } from './approaches.js';
import { METADATA } from '../orthanc/metadata.js';
import { readStudyFacts } from './read-facts.js';
import { STEPS } from './steps.js';

/** What verify found. */
export interface VerifyReport {
  readonly studyId: string;
  readonly studyInstanceUid: string;
  readonly patientName: string;
  readonly seriesCount: number;
  readonly instanceCount: number;
  /** Raw values of our study metadata, absent when not set. */
  readonly metadata: Readonly<Partial<Record<keyof typeof METADATA, string>>>;
  readonly stored: readonly StoredOutcome[];
  /** Approaches this build cannot read back yet. */
  readonly notAvailable: readonly string[];
  /** True when every expected approach's output is there and complete; the CLI exits non-zero otherwise. */
  readonly ok: boolean;
  /** One line per expected output that is missing or incomplete. */
  readonly problems: readonly string[];
}

/** Inspects a study (Orthanc ID or StudyInstanceUID); `expected` are the approaches whose outputs must be there (all by default). */
export async function verify(client: OrthancClient, studyIdOrUid: string, expected: readonly Approach[] = APPROACHES): Promise<VerifyReport> {
  const studyId = await client.resolveStudy(studyIdOrUid);
  const facts = await readStudyFacts(client, studyId);
  const metadata: Partial<Record<keyof typeof METADATA, string>> = {};
  for (const key of Object.keys(METADATA) as (keyof typeof METADATA)[]) {
    const value = await client.studyMetadata(studyId, METADATA[key]);
    if (value !== undefined) metadata[key] = value.value;
  }
  const stored: StoredOutcome[] = [];
  const notAvailable: string[] = [];
  const origin = pendingOrigin(metadata.pending, metadata.inputs);
  for (const approach of APPROACHES) {
    const step = STEPS[approach];
    const fromOrigin = originStored(approach, origin, facts, pendingEstimated(metadata.pending));
    if (fromOrigin) stored.push(fromOrigin);
    else if (step) stored.push(await step.inspect(client, facts));
    else notAvailable.push(approach);
  }
  const problems = stored.filter((s) => expected.includes(s.approach) && !s.found).map((s) => `${s.approach}: ${s.summary}`);
  problems.push(...notAvailable.filter((a) => (expected as readonly string[]).includes(a)).map((a) => `${a}: cannot be checked by this version`));
  return {
    ok: problems.length === 0,
    problems,
    studyId,
    studyInstanceUid: facts.studyInstanceUid,
    patientName: facts.patient.patientName,
    seriesCount: facts.series.length,
    instanceCount: facts.series.reduce((n, s) => n + s.instances.length, 0),
    metadata,
    stored,
    notAvailable,
  };
}
