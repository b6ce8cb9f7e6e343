/**
 * The DICOM input trigger (issue 16): when a series becomes stable, read kidney volumes from a TID
 * 1500 report of another system (SR series) or from the original tool's private block (image
 * series), and make them the study's pending mark unless other measurements win (src/inputs/apply.ts).
 * SEG series are the segmentation trigger's. Beside src/sidecar/segmentation-trigger.ts, same shape.
 */
import { Part10FormatError } from '../dicom/private-tags/errors.js';
import { readLegacyBlock } from '../dicom/private-tags/legacy.js';
import { decodePart10 } from '../dicom/part10.js';
import { DEFAULT_DEVICE_NAME, SR_SERIES_DESCRIPTION } from '../dicom/sr/document.js';
import { readVendorSr } from '../dicom/sr/ingest.js';
import { errorKind, messageOf } from '../errors.js';
import { applyDicomMark, noteOf, recordNote, type ApplyOutcome } from '../inputs/apply.js';
import { legacySource } from '../inputs/legacy-tags.js';
import type { DicomInputSettings } from '../inputs/settings.js';
import { vendorSrSource } from '../inputs/vendor-sr.js';
import type { Logger } from '../log.js';
import type { OrthancClient } from '../orthanc/client.js';
import { unlessDeleted } from '../orthanc/follower.js';
import type { OrthancSeries } from '../orthanc/types.js';
import { METADATA } from '../orthanc/metadata.js';

/** What the trigger needs; the sidecar's own deps fit. */
export interface DicomInputTriggerDeps {
  readonly client: OrthancClient;
  readonly log: Logger;
  readonly inputs: DicomInputSettings;
  readonly now?: () => Date;
}

/** What came of one stable series. */
export type DicomInputOutcome =
  | { readonly kind: 'not-applicable' | 'disabled' }
  | { readonly kind: 'skipped'; readonly reasons: readonly string[] }
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'applied'; readonly studyId: string; readonly outcome: ApplyOutcome }
  /** A permanent fault (the study deleted meanwhile, KidneyVolumesInputs not declared in Orthanc): logged, the feed goes on. */
  | { readonly kind: 'error'; readonly message: string };

/** Modalities that are neither images with the tool's block nor reports (SEG is the segmentation trigger's). */
const NOT_IMAGES = new Set(['SR', 'SEG', 'KO', 'PR', 'RTSTRUCT', 'REG', 'DOC']);
/** Errors that mean "try this change again later" (Orthanc away or failing); anything else is about the object. */
const TRANSIENT = new Set(['orthanc-unreachable', 'orthanc-http', 'orthanc-auth']);

/** Handles a StableSeries change. Throws only transient Orthanc faults, so the feed re-reads the change. */
export async function onStableSeriesInputs(deps: DicomInputTriggerDeps, seriesId: string, known?: OrthancSeries): Promise<DicomInputOutcome> {
  // The caller may have read it already (the segmentation trigger looks at the same series).
  const series = known ?? (await unlessDeleted(deps.client.series(seriesId)));
  if (series === undefined) return { kind: 'not-applicable' };
  const modality = series.MainDicomTags['Modality'] ?? '';
  const log = deps.log.child({ studyId: series.ParentStudy, seriesId, event: 'dicom-input' });
  if (modality === 'SR' ? !deps.inputs.vendorSr : NOT_IMAGES.has(modality) || !deps.inputs.legacyTags) {
    return { kind: modality === 'SR' || !NOT_IMAGES.has(modality) ? 'disabled' : 'not-applicable' };
  }
  try {
    return await (modality === 'SR' ? fromReports(deps, series, log) : fromImages(deps, series, log));
  } catch (error) {
    if (TRANSIENT.has(errorKind(error))) throw error;
    // A permanent fault must not hold the feed: one series is skipped, with the cause in the log.
    const message = errorKind(error) === 'not-found' ? `${messageOf(error)} (was the study deleted, or is ${METADATA.inputs} missing from Orthanc's UserMetadata? See orthanc/orthanc.json)` : messageOf(error);
    log.error({ outcome: 'error', kind: errorKind(error), err: error }, message);
    return { kind: 'error', message };
  }
}

/** Reads every report of an SR series; the last usable one is applied (newest wins among reports anyway). */
async function fromReports(deps: DicomInputTriggerDeps, series: OrthancSeries, log: Logger): Promise<DicomInputOutcome> {
  const now = deps.now ?? (() => new Date());
  const skipped: string[] = [];
  // Our own report series (the one every SR + FHIR study gets) says so in its main tags: no need to
  // download and decode it to find that out (issue 17). The same rule readVendorSr applies to each report.
  if (series.MainDicomTags['Manufacturer'] === DEFAULT_DEVICE_NAME && series.MainDicomTags['SeriesDescription'] === SR_SERIES_DESCRIPTION) {
    log.debug({ outcome: 'skipped' }, 'our own report series');
    return { kind: 'skipped', reasons: ['our own report series'] };
  }
  let result: DicomInputOutcome | undefined;
  for (const instanceId of series.Instances) {
    const dataset = await datasetOf(deps.client, instanceId, skipped);
    if (!dataset) continue;
    const source = vendorSrSource(readVendorSr(dataset, { deviceObserverUids: deps.inputs.ownDeviceObserverUids }), { orthancInstanceId: instanceId, orthancSeriesId: series.ID });
    if (source.kind === 'skip') {
      skipped.push(`instance ${instanceId}: ${source.reason}`);
      continue;
    }
    if (source.kind === 'ignored') {
      const reason = `SR ${source.report.sopInstanceUid}${source.report.manufacturer ? ` from ${source.report.manufacturer}` : ''} ignored: ${source.reason}`;
      const origin = { source: 'vendor-sr' as const, sopInstanceUid: source.report.sopInstanceUid, seriesInstanceUid: source.report.seriesInstanceUid };
      await recordNote(deps.client, series.ParentStudy, { ...origin, outcome: 'ignored', reason, at: now().toISOString() }, source.unsure ? reason : undefined);
      log.info({ outcome: 'ignored', unsure: source.unsure, sopInstanceUid: source.report.sopInstanceUid }, reason);
      result = { kind: 'ignored', reason };
      continue;
    }
    const outcome = await applyDicomMark(deps.client, series.ParentStudy, { origin: source.origin, mark: source.mark, madeAt: source.madeAt }, now(), log);
    if (source.notes.length > 0) {
      // Volumes the report holds beside the kidneys' (other organs, unreadable units) are named, not used.
      await recordNote(deps.client, series.ParentStudy, noteOf(source.origin, 'ignored', `left out of SR ${source.origin.sopInstanceUid}: ${source.notes.join('; ')}`, now()), undefined);
    }
    result = { kind: 'applied', studyId: series.ParentStudy, outcome };
  }
  if (result) return result;
  if (skipped.length > 0) log.debug({ outcome: 'skipped', reasons: skipped }, 'no report of this series is another system’s measurement report');
  return { kind: 'skipped', reasons: skipped };
}

/** Reads the block of the series' first image: the original tool wrote the same block into every image. */
async function fromImages(deps: DicomInputTriggerDeps, series: OrthancSeries, log: Logger): Promise<DicomInputOutcome> {
  const now = deps.now ?? (() => new Date());
  const instanceId = series.Instances[0];
  if (instanceId === undefined) return { kind: 'skipped', reasons: ['the series has no instance'] };
  let reading;
  try {
    reading = readLegacyBlock(await deps.client.instanceFile(instanceId));
  } catch (error) {
    if (TRANSIENT.has(errorKind(error))) throw error;
    if (!(error instanceof Part10FormatError) && errorKind(error) !== 'not-found') throw error;
    return { kind: 'skipped', reasons: [`instance ${instanceId} could not be read: ${messageOf(error)}`] };
  }
  if (reading.kind === 'none') return { kind: 'skipped', reasons: ['no KidneyVolInfo block'] };
  const tags = await deps.client.instanceTags(instanceId);
  const image = {
    seriesInstanceUid: String(tags['SeriesInstanceUID'] ?? ''),
    orthancSeriesId: series.ID,
    sopInstanceUid: String(tags['SOPInstanceUID'] ?? ''),
    orthancInstanceId: instanceId,
  };
  const source = legacySource(reading, image);
  if (source.kind === 'skip') return { kind: 'skipped', reasons: [source.reason] };
  if (source.kind === 'ignored') {
    const reason = `series ${image.seriesInstanceUid} ignored: ${source.reason}`;
    await recordNote(deps.client, series.ParentStudy, { source: 'legacy-tags', sopInstanceUid: image.sopInstanceUid, seriesInstanceUid: image.seriesInstanceUid, outcome: 'ignored', reason, at: now().toISOString() }, reason);
    log.info({ outcome: 'ignored' }, reason);
    return { kind: 'ignored', reason };
  }
  const outcome = await applyDicomMark(deps.client, series.ParentStudy, { origin: source.origin, mark: source.mark, madeAt: '' }, now(), log);
  return { kind: 'applied', studyId: series.ParentStudy, outcome };
}

/** The dataset of an instance, or undefined (with the reason noted) when it is not a readable DICOM file. */
async function datasetOf(client: OrthancClient, instanceId: string, skipped: string[]): Promise<Record<string, unknown> | undefined> {
  try {
    return decodePart10(await client.instanceFile(instanceId)).dataset;
  } catch (error) {
    if (TRANSIENT.has(errorKind(error))) throw error;
    skipped.push(`instance ${instanceId} could not be read: ${messageOf(error)}`);
    return undefined;
  }
}
