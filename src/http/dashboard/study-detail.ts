/** Everything the dashboard shows about one study: its row, status, marks, and each output read back from Orthanc. */
import { messageOf } from '../../errors.js';
import { decodePart10 } from '../../dicom/part10.js';
import { srTree, type SrTreeNode } from '../../dicom/sr/tree.js';
import type { StudyRow } from '../../index/row.js';
import type { OrthancClient } from '../../orthanc/client.js';
import type { StoredOutcome } from '../../pipeline/approaches.js';
import { verify } from '../../pipeline/verify.js';
import { parseStatus, type StudyStatus } from '../../status/status.js';

/** Where the browser reaches Orthanc's own web pages. */
export interface ExplorerLinks {
  readonly explorer: string;
  /** Set when Orthanc runs the Orthanc Explorer 2 plugin. */
  readonly explorer2?: string;
}

/** The study page's data. */
export interface StudyDetail {
  readonly row: StudyRow | undefined;
  readonly studyId: string;
  readonly studyInstanceUid: string;
  readonly patientName: string;
  readonly seriesCount: number;
  readonly instanceCount: number;
  readonly status: StudyStatus | null;
  /** The pending mark as JSON when it parses, else its raw text. */
  readonly pending: unknown;
  /** What verify reads back for each approach. */
  readonly stored: readonly StoredOutcome[];
  /** The newest SR's content tree, or why it could not be read. */
  readonly srTree: SrTreeNode | null;
  readonly srProblem?: string;
  /** The FHIR Bundle kept in study metadata, parsed. */
  readonly fhirBundle: unknown;
  readonly links: ExplorerLinks;
  /** The CLI command that checks the same things from a shell. */
  readonly verifyCommand: string;
}

/** Reads a study's page from Orthanc (verify's read-back plus the SR tree). */
export async function studyDetail(client: OrthancClient, studyId: string, row: StudyRow | undefined, orthancPublicUrl: string): Promise<StudyDetail> {
  const report = await verify(client, studyId);
  const status = report.metadata.status !== undefined ? parseStatus(report.metadata.status) ?? null : null;
  const sr = await newestSrTree(client, report.stored.find((s) => s.approach === 'sr'));
  return {
    row,
    studyId: report.studyId,
    studyInstanceUid: report.studyInstanceUid,
    patientName: report.patientName,
    seriesCount: report.seriesCount,
    instanceCount: report.instanceCount,
    status,
    pending: report.metadata.pending !== undefined ? parsedOrRaw(report.metadata.pending) : null,
    stored: report.stored,
    srTree: sr.tree,
    ...(sr.problem !== undefined ? { srProblem: sr.problem } : {}),
    fhirBundle: report.metadata.fhir !== undefined ? parsedOrRaw(report.metadata.fhir) : null,
    links: await explorerLinks(client, orthancPublicUrl, report.studyId, report.studyInstanceUid),
    verifyCommand: `kidney-volumes verify ${report.studyInstanceUid}`,
  };
}

async function newestSrTree(client: OrthancClient, stored: StoredOutcome | undefined): Promise<{ tree: SrTreeNode | null; problem?: string }> {
  const reports = stored?.details['reports'];
  const newest = Array.isArray(reports) ? (reports[reports.length - 1] as { orthancInstanceId?: unknown } | undefined) : undefined;
  if (typeof newest?.orthancInstanceId !== 'string') return { tree: null };
  try {
    return { tree: srTree(decodePart10(await client.instanceFile(newest.orthancInstanceId)).dataset) };
  } catch (error) {
    return { tree: null, problem: `the SR instance ${newest.orthancInstanceId} could not be read: ${messageOf(error)}` };
  }
}

/** Orthanc Explorer's study page, and Orthanc Explorer 2's when the plugin is loaded. */
async function explorerLinks(client: OrthancClient, publicUrl: string, studyId: string, studyInstanceUid: string): Promise<ExplorerLinks> {
  const base = publicUrl.replace(/\/+$/, '');
  const plugins = await client.plugins().catch(() => [] as string[]);
  return {
    explorer: `${base}/app/explorer.html#study?uuid=${studyId}`,
    ...(plugins.includes('orthanc-explorer-2') ? { explorer2: `${base}/ui/app/#/filtered-studies?StudyInstanceUID=${encodeURIComponent(studyInstanceUid)}&expand=study` } : {}),
  };
}

function parsedOrRaw(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
