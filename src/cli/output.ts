/** How the CLI shows results and errors to people (text) and programs (--json). */
import { EXIT_CODES, errorKind, exitCodeFor, messageOf } from '../errors.js';
import { describeDiameters } from '../measurements/diameters.js';
import type { Measurement } from '../measurements/model.js';
import { DELIVERIES } from '../delivery/settings.js';
import { PartialAttachError, type AttachReport } from '../pipeline/attach.js';
import { outcomeRecord, type OutcomeRecord } from '../pipeline/outcomes.js';
import type { VerifyReport } from '../pipeline/verify.js';
import { describeOrigin } from '../measurements/origin.js';
import { parseStatus } from '../status/status.js';
import { fhirDeliveryLines, type FhirDelivery } from './fhir-delivery.js';
import { currentLines, dicomDateTimeText, instantText, verifyJson, versionLines } from './verify-view.js';
import type { Output } from './io.js';

export { processOutput, type Output } from './io.js';

/** One line per measurement, aligned. */
export function measurementLines(measurements: readonly Measurement[]): string[] {
  const width = Math.max(...measurements.map((m) => m.name.length));
  return measurements.map((m) => `  ${m.name.padEnd(width)}  ${m.valueMl} mL${m.anatomy ? `  (${m.anatomy})` : ''}${m.diameters ? `  ellipsoid of ${describeDiameters(m.diameters)}` : ''}`);
}

/** Prints what attach did, and where the FHIR Bundle went when --fhir-out or --fhir-server asked. */
export function printAttach(report: AttachReport, json: boolean, io: Output, fhir: FhirDelivery = {}): void {
  const { coverage: _coverage, ...rest } = report;
  if (json) {
    const shown = { ...rest, outcomes: rest.outcomes.map(outcomeRecord) };
    io.out(JSON.stringify({ ok: true, command: 'attach', ...shown, ...(Object.keys(fhir).length > 0 ? { fhir } : {}) }));
    return;
  }
  io.out(`Study ${report.studyInstanceUid} (Orthanc ${report.studyId}): ${report.measurements.measurements.length} measurement(s)`);
  for (const line of measurementLines(report.measurements.measurements)) io.out(line);
  for (const line of outcomeLines(report.outcomes)) io.out(line);
  for (const line of fhirDeliveryLines(fhir)) io.out(line);
}

/** One line per outcome: what was written (or found), verified or delivered. */
function outcomeLines(outcomes: readonly OutcomeRecord[]): string[] {
  return outcomes.map((o) => {
    const done = (DELIVERIES as readonly string[]).includes(o.approach) ? 'delivered' : o.alreadyPresent ? 'already present, verified' : 'written and verified';
    return `${o.approach}: ${done}: ${o.summary}`;
  });
}

/** Prints what verify found; answers the exit code (verify-incomplete when an expected output is missing or incomplete). */
export function printVerify(report: VerifyReport, json: boolean, io: Output): number {
  const code = report.ok ? EXIT_CODES.ok : EXIT_CODES['verify-incomplete'];
  if (json) {
    io.out(JSON.stringify({ command: 'verify', ...verifyJson(report), exitCode: code }));
    return code;
  }
  io.out(`Study ${report.studyInstanceUid} (Orthanc ${report.studyId}), patient ${report.patientName || '(no name)'}`);
  io.out(`  ${report.seriesCount} series, ${report.instanceCount} instances`);
  const { pending, status } = report.metadata;
  if (pending !== undefined) io.out(`  pending mark: ${pending.length > 200 ? `${pending.slice(0, 200)}…` : pending}`);
  if (status !== undefined) io.out(`  sidecar status: ${statusLine(status)}`);
  for (const line of inputLines(status)) io.out(line);
  if (Object.keys(report.metadata).length === 0) io.out('  no kidney-volumes metadata on this study');
  for (const s of report.stored) io.out(`${s.approach}: ${s.found ? '' : 'not found: '}${dicomDateTimeText(s.summary)}${storageNote(s.details['storedBytes'])}`);
  for (const line of currentLines(report)) io.out(line);
  for (const line of versionLines(report)) io.out(line);
  if (report.notAvailable.length > 0) io.out(`not checked (not available in this version): ${report.notAvailable.join(', ')}`);
  io.out(report.ok ? 'ok: every expected output is there and complete' : `NOT OK: ${report.problems.length} output(s) missing or incomplete (exit ${code})`);
  return code;
}

/** Where the measurements came from when DICOM gave them, and what became of each DICOM input (issue 16). */
function inputLines(text: string | undefined): string[] {
  const status = text === undefined ? undefined : parseStatus(text);
  if (!status) return [];
  return [
    ...(status.origin ? [`  measurements from: ${describeOrigin(status.origin)}`] : []),
    ...(status.inputs ?? []).map((n) => `  DICOM input ${n.outcome}: ${n.reason}`),
  ];
}

/** What an output occupies in Orthanc's storage, e.g. " (52.4 MB in Orthanc)"; nothing when unknown or none. */
function storageNote(bytes: unknown): string {
  if (typeof bytes !== 'number' || bytes <= 0) return '';
  return bytes >= 1e6 ? ` (${(bytes / 1e6).toFixed(1)} MB in Orthanc)` : ` (${(bytes / 1e3).toFixed(1)} kB in Orthanc)`;
}

/** One line for the sidecar's status: state, attempts, when, and the error a person can act on. */
function statusLine(text: string): string {
  const status = parseStatus(text);
  if (!status) return `not readable: ${text.slice(0, 100)}`;
  const when = status.finishedAt ?? status.updatedAt;
  return `${status.state} (attempt ${status.attempts}, ${instantText(when)})${status.error ? `: ${status.error}` : ''}`;
}

/** Prints an error and answers the exit code. */
export function printError(error: unknown, json: boolean, io: Output): number {
  const code = exitCodeFor(error);
  // When some approaches were written before another failed, say what is in the study, not just what went wrong.
  const partial = error instanceof PartialAttachError ? error : undefined;
  if (json) {
    const written = partial ? { written: partial.written, failures: partial.failures } : {};
    io.out(JSON.stringify({ ok: false, error: { kind: errorKind(error), message: messageOf(error) }, ...written, exitCode: code }));
  } else if (partial) {
    for (const line of outcomeLines(partial.written)) io.out(line);
    for (const f of partial.failures) io.out(`${f.approach}: FAILED (${f.kind}): ${f.message}`);
  }
  io.err(`kidney-volumes: ${messageOf(error)}`);
  return code;
}
