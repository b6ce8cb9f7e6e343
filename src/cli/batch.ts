/**
 * attach --batch: every row of a CSV or JSON-lines file through the same pipeline as one attach.
 *
 * "Already done" is decided by Orthanc itself, not by a state file: every output's UIDs derive
 * from (study, measurement digest), and each step finds what an earlier run stored, verifies it
 * and reports alreadyPresent without writing. A row whose every step says so is reported as
 * already done. A state file could say "done" for outputs somebody deleted since, or miss runs
 * made with another KV_STATE_DIR; asking Orthanc costs a few reads per row and cannot disagree.
 */
import { EXIT_CODES, errorKind, messageOf, UsageError } from '../errors.js';
import type { OrthancClient } from '../orthanc/client.js';
import type { Approach, WriterSettings } from '../pipeline/approaches.js';
import { silentLogger } from '../logger.js';
import { attachClaimed, type ClaimSettings } from './attach-claimed.js';
import type { BatchFile, BatchRow } from './batch-file.js';
import { batchProgress, rowLine, type BatchProgress, type RowResult, type RowStatus } from './batch-progress.js';
import type { FhirDeliveryOptions } from './fhir-delivery.js';
import type { MeasurementOptions } from './measurement-options.js';
import type { Output } from './output.js';

/** attach's flags that matter to --batch. */
export interface BatchOptions extends MeasurementOptions, FhirDeliveryOptions {
  readonly batch?: string;
}

/** I/O and settings of a batch run. */
export interface BatchDeps {
  readonly client: OrthancClient;
  readonly settings: WriterSettings;
  readonly now: () => Date;
  readonly io: Output;
  readonly json: boolean;
  /** Each row goes through its study's status like a single attach (issue 14: the status owns the current version). */
  readonly claim: ClaimSettings;
  /** Where the progress bar is drawn when it is a terminal (stderr by default). */
  readonly stream?: NodeJS.WriteStream;
}

/** What a batch run did, as --json prints it. */
export interface BatchSummary {
  readonly ok: boolean;
  readonly command: 'attach';
  readonly batch: string;
  readonly format: BatchFile['format'];
  readonly rows: number;
  readonly written: number;
  readonly alreadyDone: number;
  readonly failed: number;
  readonly notAttempted: number;
  /** The fault that stopped the batch (Orthanc unreachable, credentials refused), when one did. */
  readonly stoppedBy?: { readonly line: number; readonly kind: string; readonly message: string };
  readonly results: readonly RowResult[];
  readonly exitCode: number;
}

/** Faults that no other row can escape: going on would only fail every row the same way. */
const STOPS_BATCH = new Set(['orthanc-unreachable', 'orthanc-auth']);

/** --batch takes its studies and measurements from the file: a <study> or measurement flags beside it are a usage error. */
export function checkBatchOptions(study: string | undefined, options: BatchOptions): void {
  if (options.batch === undefined) return;
  if (study !== undefined) throw new UsageError(`--batch cannot be combined with a <study> (got "${study}"): the studies come from the file`);
  const flags = [
    options.right !== undefined ? '--right' : undefined,
    options.left !== undefined ? '--left' : undefined,
    options.total !== undefined ? '--total' : undefined,
    (options.measure ?? []).length > 0 ? '--measure' : undefined,
    options.rightDims !== undefined ? '--right-dims' : undefined,
    options.leftDims !== undefined ? '--left-dims' : undefined,
    (options.measureDims ?? []).length > 0 ? '--measure-dims' : undefined,
    options.fromJson !== undefined ? '--from-json' : undefined,
    options.fhirOut !== undefined ? '--fhir-out' : undefined,
    options.fhirServer !== undefined ? '--fhir-server' : undefined,
  ].filter((f) => f !== undefined);
  if (flags.length > 0) throw new UsageError(`--batch cannot be combined with ${flags.join(', ')}: the measurements come from the file`);
}

/** Runs every row, one after the other; prints per-row progress and a summary; answers the exit code. */
export async function runBatch(deps: BatchDeps, file: BatchFile, approaches: readonly Approach[]): Promise<number> {
  const progress = batchProgress(file.rows.length, deps.io, deps.stream);
  const results: RowResult[] = [];
  let stoppedBy: BatchSummary['stoppedBy'];
  try {
    for (const row of file.rows) {
      if (stoppedBy !== undefined) {
        results.push({ line: row.line, study: row.study, status: 'not-attempted' });
        continue;
      }
      progress.start(row.line, row.study);
      const result = await runRow(deps, row, approaches, progress);
      results.push(result);
      progress.done(result);
      if (result.error !== undefined && STOPS_BATCH.has(result.error.kind)) stoppedBy = { line: row.line, ...result.error };
    }
  } finally {
    progress.stop();
  }
  const summary = summarise(file, results, stoppedBy);
  printSummary(summary, deps);
  return summary.exitCode;
}

async function runRow(deps: BatchDeps, row: BatchRow, approaches: readonly Approach[], progress: BatchProgress): Promise<RowResult> {
  const base = { line: row.line, study: row.study };
  if (row.problem !== undefined || row.measurements === undefined) return { ...base, status: 'failed', error: errorOf(row.problem) };
  try {
    const report = await attachClaimed(
      { client: deps.client, settings: deps.settings, now: deps.now, log: silentLogger, ...deps.claim, progress: (p) => progress.step(p) },
      row.study,
      row.measurements,
      row.approaches ?? approaches,
    );
    const outcomes = report.outcomes.map((o) => ({ approach: o.approach, alreadyPresent: o.alreadyPresent, summary: o.summary }));
    const status: RowStatus = outcomes.every((o) => o.alreadyPresent) ? 'already-done' : 'written';
    return { ...base, status, studyId: report.studyId, digest: report.measurements.digest, outcomes };
  } catch (error) {
    return { ...base, status: 'failed', digest: row.measurements.digest, error: errorOf(error) };
  }
}

function errorOf(error: unknown): { kind: string; message: string } {
  if (error === undefined) return { kind: 'internal', message: 'the row has no measurements' };
  return { kind: errorKind(error), message: messageOf(error) };
}

function summarise(file: BatchFile, results: readonly RowResult[], stoppedBy: BatchSummary['stoppedBy']): BatchSummary {
  const count = (status: RowStatus): number => results.filter((r) => r.status === status).length;
  const failed = count('failed');
  const exitCode = stoppedBy !== undefined ? EXIT_CODES[stoppedKind(stoppedBy.kind)] : failed > 0 ? EXIT_CODES['batch-failed'] : EXIT_CODES.ok;
  return {
    ok: exitCode === EXIT_CODES.ok,
    command: 'attach',
    batch: file.path,
    format: file.format,
    rows: results.length,
    written: count('written'),
    alreadyDone: count('already-done'),
    failed,
    notAttempted: count('not-attempted'),
    ...(stoppedBy !== undefined ? { stoppedBy } : {}),
    results,
    exitCode,
  };
}

function stoppedKind(kind: string): 'orthanc-unreachable' | 'orthanc-auth' {
  return kind === 'orthanc-auth' ? kind : 'orthanc-unreachable';
}

function printSummary(summary: BatchSummary, deps: BatchDeps): void {
  const { io } = deps;
  const failedRows = summary.results.filter((r) => r.status === 'failed');
  if (deps.json) {
    io.out(JSON.stringify(summary));
  } else {
    const counts = [`${summary.written} written`, `${summary.alreadyDone} already done`, `${summary.failed} failed`];
    if (summary.notAttempted > 0) counts.push(`${summary.notAttempted} not attempted`);
    io.out(`Batch ${summary.batch} (${summary.format}): ${summary.rows} row${summary.rows === 1 ? '' : 's'}: ${counts.join(', ')}`);
    for (const r of summary.results.filter((x) => x.status === 'written' || x.status === 'already-done')) io.out(`  ${rowLine(r)}`);
    if (failedRows.length > 0) io.out('Failed rows:');
    for (const r of failedRows) io.out(`  ${rowLine(r)}`);
  }
  if (summary.stoppedBy !== undefined) {
    io.err(`kidney-volumes: batch stopped at line ${summary.stoppedBy.line}: ${summary.stoppedBy.message}; ${summary.notAttempted} row(s) not attempted. Run again once fixed: rows already done are skipped.`);
  } else if (failedRows.length > 0) {
    io.err(
      `kidney-volumes: ${failedRows.length} of ${summary.rows} rows failed: ${failedRows.map((r) => `line ${r.line}`).join(', ')}. ` +
        'Fix them and run again: rows already done are skipped.',
    );
  }
}

