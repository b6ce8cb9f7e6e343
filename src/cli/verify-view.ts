/**
 * How verify shows what it found: dates as dates, the stored JSON (marks, status, FHIR Bundle) as
 * nested objects in --json, and which version of each output is the current one.
 */
import type { StoredOutcome } from '../pipeline/approaches.js';
import type { VerifyReport } from '../pipeline/verify.js';
import { parseStatus } from '../status/status.js';

/**
 * DICOM "YYYYMMDD HHMMSS[.ffffff]" as "YYYY-MM-DD HH:MM:SS"; anything else unchanged. The time is
 * required and a neighbouring dot excludes a match, so a UID component of eight digits stays as it is.
 */
export function dicomDateTimeText(text: string): string {
  return text.replace(/(?<![.\d])(\d{4})(\d{2})(\d{2}) (\d{2})(\d{2})(\d{2})(?:\.\d+)?(?![.\d])/g, (whole, y: string, mo: string, d: string, h: string, mi: string, s: string) =>
    Number(mo) >= 1 && Number(mo) <= 12 && Number(d) >= 1 && Number(d) <= 31 ? `${y}-${mo}-${d} ${h}:${mi}:${s}` : whole,
  );
}

/** An ISO 8601 instant as "YYYY-MM-DD HH:MM:SS UTC", for people; anything else unchanged. */
export function instantText(iso: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$/.exec(iso);
  return m ? `${m[1]} ${m[2]} UTC` : iso;
}

/** Which version of one output is current, and how many older ones are kept. */
export interface CurrentVersion {
  readonly approach: string;
  readonly current: Readonly<Record<string, unknown>> | undefined;
  readonly older: number;
}

/** The current version of every output found. */
export function currentVersions(report: VerifyReport): CurrentVersion[] {
  const digest = report.metadata.status !== undefined ? parseStatus(report.metadata.status)?.digest : undefined;
  return report.stored.filter((s) => s.found).map((s) => currentOf(s, digest, report.metadata.fhir));
}

/** Lines for the text output: each found output's current version. */
export function currentLines(report: VerifyReport): string[] {
  return currentVersions(report).map(({ approach, current, older }) => {
    const kept = older > 0 ? `; ${older} older version${older === 1 ? '' : 's'} kept` : '';
    const fields = Object.entries(current ?? {})
      .filter(([, v]) => typeof v === 'string' || typeof v === 'number')
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ');
    return `  ${approach} current: ${fields || 'not determined'}${kept}`;
  });
}

/** One SR of the chain: the current report first, then the reports it lists as predecessors. */
export interface ChainLink {
  readonly sopInstanceUid: string;
  /** "YYYY-MM-DDTHH:MM:SS" as the report says, absent for a predecessor not found in the study. */
  readonly written?: string;
  readonly values?: string;
  readonly role: 'current' | 'predecessor';
}

/**
 * The SR chain: the current report (the newest one that no other report replaces), then the reports
 * its PredecessorDocumentsSequence lists, newest first. Empty without reports.
 */
export function srChain(report: VerifyReport): ChainLink[] {
  const details = report.stored.find((s) => s.approach === 'sr')?.details as { reports?: StoredReportView[] } | undefined;
  const reports = details?.reports ?? [];
  const replaced = new Set(reports.flatMap((r) => r.predecessors ?? []));
  const current = [...reports].reverse().find((r) => !replaced.has(r.sopInstanceUid)) ?? reports[reports.length - 1];
  if (!current) return [];
  const link = (r: StoredReportView | undefined, uid: string, role: ChainLink['role']): ChainLink => ({
    sopInstanceUid: uid,
    role,
    ...(r?.written ? { written: isoDate(r.written) } : {}),
    ...(r ? { values: (r.measurements ?? []).map((m) => `${m.name} ${m.valueMl} ${m.unit}`).join(', ') } : {}),
  });
  // Newest first: a report lists every report before it, so the one that lists more is newer (the
  // sequence itself is grouped by series, in no order of time); reports not in the study go last.
  const rank = (uid: string): number => reports.find((r) => r.sopInstanceUid === uid)?.predecessors?.length ?? -1;
  const predecessors = [...(current.predecessors ?? [])].sort((a, b) => rank(b) - rank(a));
  return [link(current, current.sopInstanceUid, 'current'), ...predecessors.map((uid) => link(reports.find((r) => r.sopInstanceUid === uid), uid, 'predecessor'))];
}

/** Lines for the text output: the status's version history (newest first) and the SR chain. */
export function versionLines(report: VerifyReport): string[] {
  const status = report.metadata.status !== undefined ? parseStatus(report.metadata.status) : undefined;
  const history = [...(status?.history ?? [])].reverse();
  const lines: string[] = [];
  if (history.length > 0) {
    lines.push(`  versions (newest first, ${history.length} kept):`);
    history.forEach((v, i) => lines.push(`    ${i === 0 && status?.state === 'done' && status.digest === v.digest ? 'current ' : ''}${instantText(v.at)} from ${v.source}: ${v.values} (digest ${v.digest.slice(0, 12)})`));
  }
  const chain = srChain(report);
  if (chain.length > 1) {
    lines.push('  SR chain (current first):');
    for (const l of chain) lines.push(`    ${l.role} ${l.sopInstanceUid}${l.written ? ` written ${l.written.replace('T', ' ')}` : ' (not in this study)'}${l.values ? `: ${l.values}` : ''}`);
  }
  return lines;
}

/** A stored SR as the SR step's details give it. */
interface StoredReportView {
  readonly sopInstanceUid: string;
  readonly written?: string;
  readonly predecessors?: readonly string[];
  readonly measurements?: readonly { name: string; valueMl: string; unit: string }[];
}

/** The report for --json: stored JSON texts parsed into objects, DICOM dates as ISO dates, and the current versions. */
export function verifyJson(report: VerifyReport): Record<string, unknown> {
  const metadata: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(report.metadata)) metadata[key] = value === undefined ? undefined : parsedOrText(value);
  return {
    ...report,
    metadata,
    stored: report.stored.map((s) => ({ ...s, details: isoDates(s.details) })),
    current: currentVersions(report),
    srChain: srChain(report),
  };
}

function currentOf(outcome: StoredOutcome, digest: string | undefined, fhirText: string | undefined): CurrentVersion {
  const details = outcome.details as Record<string, unknown>;
  if (outcome.approach === 'sr') {
    // The SR step lists its reports oldest first.
    const reports = (details['reports'] as { sopInstanceUid?: string; seriesInstanceUid?: string; written?: string }[] | undefined) ?? [];
    const newest = reports[reports.length - 1];
    return {
      approach: 'sr',
      current: newest && { sopInstanceUid: newest.sopInstanceUid, seriesInstanceUid: newest.seriesInstanceUid, written: isoDate(newest.written ?? '') },
      older: Math.max(0, reports.length - 1),
    };
  }
  if (outcome.approach === 'fhir') {
    const bundle = fhirText !== undefined ? (parsedOrText(fhirText) as { identifier?: { value?: string }; entry?: { resource?: { issued?: string } }[] }) : undefined;
    const issued = (bundle?.entry ?? []).map((e) => e.resource?.issued).filter((i): i is string => typeof i === 'string').sort().pop();
    return { approach: 'fhir', current: { bundle: bundle?.identifier?.value, ...(issued !== undefined ? { issued } : {}) }, older: 0 };
  }
  if (outcome.approach === 'private') {
    const series = (details['series'] as { seriesInstanceUid?: string; digest?: string }[] | undefined) ?? [];
    // A derived series belongs to one set of measurements (its digest); the status names the current set.
    const digests = [...new Set(series.map((s) => s.digest))];
    const currentDigest = digest ?? (digests.length === 1 ? digests[0] : undefined);
    const current = series.filter((s) => s.digest === currentDigest);
    return {
      approach: 'private',
      current: current.length > 0 ? { series: current.length === 1 ? current[0]?.seriesInstanceUid : `${current.length} derived series`, digest: currentDigest?.slice(0, 12) } : undefined,
      older: series.length - current.length,
    };
  }
  return { approach: outcome.approach, current: undefined, older: 0 };
}

/** Parses stored JSON text, or keeps the text when it is not JSON. */
function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** "YYYYMMDD HHMMSS" as "YYYY-MM-DDTHH:MM:SS" (local time of the writer, as DICOM keeps it). */
function isoDate(text: string): string {
  return dicomDateTimeText(text).replace(/^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})$/, '$1T$2');
}

/** Converts the values of "written" keys, wherever they are nested, to ISO dates. */
function isoDates(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(isoDates);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === 'written' && typeof v === 'string' ? isoDate(v) : isoDates(v)]));
}
