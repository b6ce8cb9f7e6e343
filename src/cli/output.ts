/** How the CLI shows results and errors to people (text) and programs (--json). */
import { errorKind, exitCodeFor, messageOf } from '../errors.js';
import type { Measurement } from '../measurements/model.js';
import { DELIVERIES } from '../delivery/settings.js';
import type { AttachReport } from '../pipeline/attach.js';
import type { VerifyReport } from '../pipeline/verify.js';
import { parseStatus } from '../sidecar/status.js';
import { fhirDeliveryLines, type FhirDelivery } from './fhir-delivery.js';
import type { Output } from './io.js';

export { processOutput, type Output } from './io.js';

/** One line per measurement, aligned. */
export function measurementLines(measurements: readonly Measurement[]): string[] {
  const width = Math.max(...measurements.map((m) => m.name.length));
  return measurements.map((m) => `  ${m.name.padEnd(width)}  ${m.valueMl} mL${m.anatomy ? `  (${m.anatomy})` : ''}`);
}

/** Prints what attach did, and where the FHIR Bundle went when --fhir-out or --fhir-server asked. */
export function printAttach(report: AttachReport, json: boolean, io: Output, fhir: FhirDelivery = {}): void {
  if (json) {
    io.out(JSON.stringify({ ok: true, command: 'attach', ...report, ...(Object.keys(fhir).length > 0 ? { fhir } : {}) }));
    return;
  }
  io.out(`Study ${report.studyInstanceUid} (Orthanc ${report.studyId}): ${report.measurements.measurements.length} measurement(s)`);
  for (const line of measurementLines(report.measurements.measurements)) io.out(line);
  for (const o of report.outcomes) {
    const done = (DELIVERIES as readonly string[]).includes(o.approach) ? 'delivered' : o.alreadyPresent ? 'already present, verified' : 'written and verified';
    io.out(`${o.approach}: ${done}: ${o.summary}`);
  }
  for (const line of fhirDeliveryLines(fhir)) io.out(line);
}

/** Prints what verify found. */
export function printVerify(report: VerifyReport, json: boolean, io: Output): void {
  if (json) {
    io.out(JSON.stringify({ ok: true, command: 'verify', ...report }));
    return;
  }
  io.out(`Study ${report.studyInstanceUid} (Orthanc ${report.studyId}), patient ${report.patientName || '(no name)'}`);
  io.out(`  ${report.seriesCount} series, ${report.instanceCount} instances`);
  const { pending, status } = report.metadata;
  if (pending !== undefined) io.out(`  pending mark: ${pending.length > 200 ? `${pending.slice(0, 200)}…` : pending}`);
  if (status !== undefined) io.out(`  sidecar status: ${statusLine(status)}`);
  if (Object.keys(report.metadata).length === 0) io.out('  no kidney-volumes metadata on this study');
  for (const s of report.stored) io.out(`${s.approach}: ${s.found ? '' : 'not found: '}${s.summary}${storageNote(s.details['storedBytes'])}`);
  if (report.notAvailable.length > 0) io.out(`not checked (not available in this version): ${report.notAvailable.join(', ')}`);
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
  return `${status.state} (attempt ${status.attempts}, ${when})${status.error ? `: ${status.error}` : ''}`;
}

/** Prints an error and answers the exit code. */
export function printError(error: unknown, json: boolean, io: Output): number {
  const code = exitCodeFor(error);
  if (json) io.out(JSON.stringify({ ok: false, error: { kind: errorKind(error), message: messageOf(error) }, exitCode: code }));
  io.err(`kidney-volumes: ${messageOf(error)}`);
  return code;
}
