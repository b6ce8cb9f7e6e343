/**
 * The segmentation trigger (issue 8): when a SEG series becomes stable, measure its right and left
 * kidney segments and, unless the study already has measurements, write them as the study's
 * pending mark, so the normal processing path writes the SR, FHIR and private tags. A later SEG
 * replaces the mark of an earlier SEG, never a person's (issue 14).
 */
import { decodePart10 } from '../dicom/part10.js';
import { errorKind, failureClass, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { parseMeasurementsJson } from '../measurements/parse.js';
import type { OrthancClient } from '../orthanc/client.js';
import { unlessDeleted } from '../orthanc/follower.js';
import type { OrthancSeries } from '../orthanc/types.js';
import { isSegMark, originFor, parseInputs } from '../measurements/origin.js';
import { recordSegMark } from '../inputs/seg-mark.js';
import type { MeasurementSet } from '../measurements/model.js';
import { fileBytes, type ByteBudget } from '../pipeline/byte-budget.js';
import { METADATA } from '../orthanc/metadata.js';
import { SEGMENTATION_SOP_CLASS_UID } from '../dicom/sop-classes.js';
import { segmentationMark, type SegmentationMark } from '../segmentation/mark.js';
import { matchKidneys } from '../segmentation/match.js';
import type { SegmentationSettings } from '../segmentation/settings.js';
import { segmentationVolumes } from '../segmentation/volume.js';
import { readStatus, writeFinalStatus } from '../status/status.js';

/** What the trigger needs; the sidecar's own deps fit. */
export interface SegmentationTriggerDeps {
  readonly client: OrthancClient;
  readonly log: Logger;
  readonly segmentation: SegmentationSettings;
  /** Bytes of files held at once, shared with the other work of the process (default: the process's budget). */
  readonly budget?: ByteBudget;
}

/**
 * Bytes one SEG instance holds while measured, per byte of its file: the file, dcmjs's decoded
 * copy of it, and PixelData joined into one array when dcmjs hands it over in fragments.
 */
const HELD_PER_FILE_BYTE = 3;
/** Assumed file size when Orthanc does not say (it always does for stored files). */
const UNKNOWN_FILE_BYTES = 1024 * 1024;

/** What came of one stable series. */
export type SegmentationOutcome =
  | { readonly kind: 'disabled' | 'not-segmentation' }
  | { readonly kind: 'no-kidney'; readonly reasons: readonly string[] }
  | { readonly kind: 'marked' | 'already-marked' | 'replaced'; readonly studyId: string; readonly mark: SegmentationMark }
  | { readonly kind: 'kept-existing'; readonly studyId: string; readonly mark: SegmentationMark; readonly noted: boolean };

/** Handles a StableSeries change. Throws only transient Orthanc faults, so the feed re-reads the change. */
export async function onStableSeries(deps: SegmentationTriggerDeps, seriesId: string, known?: OrthancSeries): Promise<SegmentationOutcome> {
  const settings = deps.segmentation;
  if (!settings.enabled) return { kind: 'disabled' };
  // The caller may have read it already (the DICOM input trigger looks at the same series).
  const series = known ?? (await unlessDeleted(deps.client.series(seriesId)));
  if (series === undefined || series.MainDicomTags['Modality'] !== 'SEG') return { kind: 'not-segmentation' };
  const log = deps.log.child({ studyId: series.ParentStudy, seriesId, event: 'segmentation' });
  const found = await measure(deps.client, series, settings, log, deps.budget ?? fileBytes);
  if (found.kind === 'no-kidney') {
    log.info({ outcome: 'no-kidney', reasons: found.reasons }, 'segmentation has no kidney segment to measure; study left untouched');
    return found;
  }
  return applyMark(deps.client, series.ParentStudy, found.mark, log);
}

/** Measures every SEG instance of the series until one has a kidney. */
async function measure(
  client: OrthancClient,
  series: OrthancSeries,
  settings: SegmentationSettings,
  log: Logger,
  budget: ByteBudget,
): Promise<{ kind: 'found'; mark: SegmentationMark } | { kind: 'no-kidney'; reasons: string[] }> {
  const reasons: string[] = [];
  // One call for every instance's file size, so that what is held is bounded by bytes before any download.
  const sizes = new Map((await client.seriesInstances(series.ID)).map((i) => [i.ID, i.FileSize ?? UNKNOWN_FILE_BYTES]));
  for (const instanceId of series.Instances) {
    const release = await budget.reserve(HELD_PER_FILE_BYTE * (sizes.get(instanceId) ?? UNKNOWN_FILE_BYTES));
    try {
      const { meta, dataset } = decodePart10(await client.instanceFile(instanceId));
      if (dataset['SOPClassUID'] !== SEGMENTATION_SOP_CLASS_UID) {
        reasons.push(`instance ${instanceId} is not a Segmentation (SOP class ${String(dataset['SOPClassUID'])})`);
        continue;
      }
      const volumes = segmentationVolumes(dataset, String(meta['TransferSyntaxUID'] ?? ''));
      const match = matchKidneys(volumes.segments, settings.labels);
      const mark = segmentationMark(volumes, match);
      const labels = volumes.segments.map((s) => `${s.segment.number}:${s.segment.label || '(no label)'}`).join(', ');
      if (mark) {
        log.info({ sopInstanceUid: volumes.sopInstanceUid, matchedBy: { right: match.right?.by, left: match.left?.by }, spacing: volumes.spacingSources, notes: match.notes }, 'kidney segments measured');
        return { kind: 'found', mark };
      }
      reasons.push(`SEG ${volumes.sopInstanceUid} (segments ${labels}): ${match.notes.join('; ') || 'no segment is coded or labelled as the right or left kidney'}`);
    } catch (error) {
      if (failureClass(error) === 'transient') throw error;
      reasons.push(`instance ${instanceId} could not be measured: ${messageOf(error)}`);
    } finally {
      release();
    }
  }
  return { kind: 'no-kidney', reasons };
}

/**
 * Writes the mark when the study has none (create-only: Orthanc answers 409 when somebody wrote
 * first, so a person's mark is never replaced); otherwise records on the status that a SEG came too.
 */
async function applyMark(client: OrthancClient, studyId: string, mark: SegmentationMark, log: Logger): Promise<SegmentationOutcome> {
  const text = JSON.stringify(mark);
  let digest: string;
  try {
    digest = parseMeasurementsJson(text).digest;
  } catch (error) {
    log.warn({ outcome: 'invalid', err: error }, `segmentation volumes are not acceptable measurements: ${messageOf(error)}`);
    return { kind: 'no-kidney', reasons: [messageOf(error)] };
  }
  const existing = await client.studyMetadata(studyId, METADATA.pending);
  // Recorded before any write of the mark, so the mark is never seen without the proof it is a SEG's.
  const record = (): Promise<void> => recordSegMark(client, studyId, { digest, sopInstanceUid: mark.segmentation.sopInstanceUid, at: new Date().toISOString() });
  if (existing === undefined) {
    await record();
    if (await client.replaceStudyMetadata(studyId, METADATA.pending, text, undefined)) {
      log.info({ outcome: 'marked', measurements: mark.measurements.map((m) => `${m.name} ${m.value} mL`) }, 'pending measurements written from the segmentation');
      return { kind: 'marked', studyId, mark };
    }
  }
  const current = existing ?? (await client.studyMetadata(studyId, METADATA.pending));
  if (current !== undefined && sameSegmentation(current.value, mark)) return { kind: 'already-marked', studyId, mark };
  if (current !== undefined && (await writtenByEarlierSeg(client, studyId, current.value))) {
    await record();
    // A later SEG supersedes an earlier SEG's mark (issue 14), by compare-and-set on the mark it read:
    // a person who marks meanwhile wins, and this SEG is then only recorded.
    if (await client.replaceStudyMetadata(studyId, METADATA.pending, text, current.etag)) {
      log.info({ outcome: 'replaced', measurements: mark.measurements.map((m) => `${m.name} ${m.value} mL`) }, 'pending measurements of an earlier segmentation replaced by this one');
      return { kind: 'replaced', studyId, mark };
    }
  }
  const noted = await noteOnStatus(client, studyId, mark);
  log.info({ outcome: 'kept-existing', noted }, 'the study already has pending measurements; they win over the segmentation, which is only recorded');
  return { kind: 'kept-existing', studyId, mark, noted };
}

/**
 * True when the pending mark was written by a segmentation: the trigger recorded writing exactly
 * this mark from the SEG it names (src/measurements/origin.ts isSegMark). A person's mark wins, whether
 * given through kidney-volumes or typed straight into Orthanc with a SEG's fields copied into it.
 */
async function writtenByEarlierSeg(client: OrthancClient, studyId: string, pending: string): Promise<boolean> {
  let set: MeasurementSet;
  try {
    set = parseMeasurementsJson(pending);
  } catch {
    return false;
  }
  const inputs = parseInputs((await client.studyMetadata(studyId, METADATA.inputs))?.value);
  return isSegMark(inputs, set) && originFor(inputs, set.digest) === undefined;
}

/** True when the pending text is the mark of this very SEG (the series became stable again). */
function sameSegmentation(pending: string, mark: SegmentationMark): boolean {
  try {
    const value = JSON.parse(pending) as { segmentation?: { sopInstanceUid?: unknown } };
    return value.segmentation?.sopInstanceUid === mark.segmentation.sopInstanceUid;
  } catch {
    return false;
  }
}

/**
 * Adds a `segmentation` note to a finished status (compare-and-set). Only when done or failed: a
 * status in processing belongs to a worker whose next write must not meet a changed revision.
 */
async function noteOnStatus(client: OrthancClient, studyId: string, mark: SegmentationMark): Promise<boolean> {
  const stored = await readStatus(client, studyId);
  if (stored.kind !== 'readable' || (stored.status.state !== 'done' && stored.status.state !== 'failed')) return false;
  const note = {
    ...mark.segmentation,
    applied: false,
    reason: 'the study already had pending measurements, which win over a segmentation',
    measurements: mark.measurements.map((m) => ({ name: m.name, valueMl: m.value, anatomy: m.anatomy, source: m.source })),
  };
  if (JSON.stringify(stored.status.segmentation) === JSON.stringify(note)) return true;
  // Compare-and-set on the revision read; its new ETag is not read back, as nothing here writes over it.
  return (await writeFinalStatus(client, studyId, stored, { ...stored.status, segmentation: note })) !== undefined;
}
