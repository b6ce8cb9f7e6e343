/**
 * `kidney-volumes migrate` (issue 16, part 2): for studies already in Orthanc whose images carry the
 * original tool's KidneyVolInfo block, make the block's volumes the study's measurements and write
 * the SR and FHIR through the sidecar's own processor (with its claim, so a running sidecar and
 * migrate never write one study at once). The images are not copied again. Nothing is deleted.
 */
import { hostname } from 'node:os';
import { readLegacyBlock } from '../dicom/private-tags/legacy.js';
import { Part10FormatError } from '../dicom/private-tags/errors.js';
import { errorKind, EXIT_CODES, messageOf, UsageError } from '../errors.js';
import { applyDicomMark, recordNote, type ApplyOutcome } from '../inputs/apply.js';
import { legacySource } from '../inputs/legacy-tags.js';
import { describeOrigin } from '../measurements/origin.js';
import { silentLogger, type Logger } from '../logger.js';
import type { OrthancClient } from '../orthanc/client.js';
import type { Approach, WriterSettings } from '../pipeline/approaches.js';
import { SidecarEvents } from '../sidecar/events.js';
import { processStudy, type ProcessResult } from '../sidecar/processor.js';
import type { Output } from './output.js';

/** What migrate needs. */
export interface MigrateDeps {
  readonly client: OrthancClient;
  readonly settings: WriterSettings;
  readonly approaches: readonly Approach[];
  readonly leaseMs: number;
  readonly now: () => Date;
  readonly io: Output;
  readonly json: boolean;
  /** Only mark the studies; the running sidecar writes the outputs. */
  readonly markOnly: boolean;
}

/** What migrate did with one study. */
export interface MigrateResult {
  readonly studyId: string;
  readonly outcome: 'no-block' | 'ignored' | 'marked' | 'kept-existing' | 'error';
  readonly detail: string;
  /** The processor's result when migrate processed the study itself. */
  readonly state?: ProcessResult['kind'];
}

/** Faults that every other study would meet too: stop rather than fail each one the same way. */
const STOPS = new Set(['orthanc-unreachable', 'orthanc-auth']);

/** Runs migrate over the named studies (Orthanc IDs or StudyInstanceUIDs), or every study with `all`. */
export async function runMigrate(deps: MigrateDeps, studies: readonly string[], all: boolean): Promise<number> {
  if (all === studies.length > 0) throw new UsageError(all ? 'migrate takes either <study...> or --all, not both' : 'migrate needs <study...> (Orthanc study ID or StudyInstanceUID) or --all');
  const ids = all ? await deps.client.studyIds() : await Promise.all(studies.map((s) => deps.client.resolveStudy(s)));
  const log = silentLogger;
  const results: MigrateResult[] = [];
  for (const studyId of ids) {
    let result: MigrateResult;
    try {
      result = await migrateStudy(deps, studyId, log);
    } catch (error) {
      if (STOPS.has(errorKind(error))) throw error;
      result = { studyId, outcome: 'error', detail: messageOf(error) };
    }
    results.push(result);
    if (!deps.json) deps.io.out(`${studyId}: ${result.outcome}${result.state ? ` (${result.state})` : ''}: ${result.detail}`);
  }
  const failed = results.filter((r) => r.outcome === 'error' || r.state === 'failed').length;
  const summary = { studies: results.length, marked: results.filter((r) => r.outcome === 'marked').length, failed };
  if (deps.json) deps.io.out(JSON.stringify({ ok: failed === 0, command: 'migrate', ...summary, results }));
  else deps.io.out(`migrate: ${summary.studies} studies, ${summary.marked} marked from the original tool's private tags, ${failed} failed`);
  // Like attach --batch: every study was tried, some failed.
  return failed === 0 ? EXIT_CODES.ok : EXIT_CODES['batch-failed'];
}

/** Finds the block in the study's image series, marks the study, and processes it unless asked not to. */
async function migrateStudy(deps: MigrateDeps, studyId: string, log: Logger): Promise<MigrateResult> {
  const series = await deps.client.studySeries(studyId);
  for (const s of series) {
    const modality = s.MainDicomTags['Modality'] ?? '';
    const instanceId = s.Instances[0];
    if (instanceId === undefined || ['SR', 'SEG', 'KO', 'PR'].includes(modality)) continue;
    let reading;
    try {
      reading = readLegacyBlock(await deps.client.instanceFile(instanceId));
    } catch (error) {
      if (error instanceof Part10FormatError) continue;
      throw error;
    }
    if (reading.kind === 'none' || reading.kind === 'ours') continue;
    const tags = await deps.client.instanceTags(instanceId);
    const image = { seriesInstanceUid: String(tags['SeriesInstanceUID'] ?? ''), orthancSeriesId: s.ID, sopInstanceUid: String(tags['SOPInstanceUID'] ?? ''), orthancInstanceId: instanceId };
    const source = legacySource(reading, image);
    if (source.kind === 'skip') continue;
    if (source.kind === 'ignored') {
      const reason = `series ${image.seriesInstanceUid} ignored: ${source.reason}`;
      await recordNote(deps.client, studyId, { source: 'legacy-tags', sopInstanceUid: image.sopInstanceUid, seriesInstanceUid: image.seriesInstanceUid, outcome: 'ignored', reason, at: deps.now().toISOString() }, reason);
      return { studyId, outcome: 'ignored', detail: reason };
    }
    const applied = await applyDicomMark(deps.client, studyId, { origin: source.origin, mark: source.mark, madeAt: '' }, deps.now(), log);
    return finish(deps, studyId, applied, describeOrigin(source.origin));
  }
  return { studyId, outcome: 'no-block', detail: "no image carries the original tool's KidneyVolInfo block" };
}

async function finish(deps: MigrateDeps, studyId: string, applied: ApplyOutcome, origin: string): Promise<MigrateResult> {
  if (applied.kind === 'kept-existing') return { studyId, outcome: 'kept-existing', detail: applied.reason };
  if (deps.markOnly) return { studyId, outcome: 'marked', detail: `${origin}; the sidecar writes the outputs` };
  const result = await processStudy(
    {
      client: deps.client,
      settings: deps.settings,
      approaches: deps.approaches,
      now: deps.now,
      events: new SidecarEvents(),
      log: silentLogger,
      owner: `migrate@${hostname()}`,
      leaseMs: deps.leaseMs,
      maxAttempts: 1,
      retryBaseMs: 1000,
    },
    studyId,
  );
  const detail =
    result.kind === 'done'
      ? `${origin}; ${Object.values(result.status.outputs ?? {}).map((o) => String((o as { summary?: unknown }).summary ?? '')).join('; ')}`
      : result.kind === 'failed'
        ? `${origin}; failed: ${result.status.error ?? ''}`
        : result.kind === 'nothing' || result.kind === 'deleted'
          ? `${origin}; ${result.reason}`
          : result.kind === 'busy'
            ? `${origin}; held by ${result.owner}, which writes the outputs`
            : result.kind === 'gone'
              ? `${origin}; the study no longer exists`
              : `${origin}; ${result.error}`;
  return { studyId, outcome: 'marked', detail, state: result.kind };
}
