/**
 * The writer steps that change when measurements came from DICOM (issue 16): another system's
 * report *is* the study's SR (no second SR repeats it; the step checks it is still there and still
 * says the same), and images that carry the original tool's block are not copied again.
 */
import { decodePart10 } from '../dicom/part10.js';
import { readVendorSr } from '../dicom/sr/ingest.js';
import { KidneyVolumesError } from '../errors.js';
import type { MeasurementSet } from '../measurements/model.js';
import type { Approach, StepContext, WriterOutcome } from './approaches.js';
import type { LegacyImagesOutcome, VendorSrOutcome } from './outcomes.js';
import { vendorSrSource } from '../inputs/vendor-sr.js';
import { describeOrigin, type DicomOrigin } from '../measurements/origin.js';
import { ownDeviceObserverUids } from '../inputs/settings.js';

/**
 * What a step does instead of writing, for an origin; undefined: the normal step runs. A report that
 * gave diameters without a volume is not the study's SR: ours holds the ellipsoid volume it lacks.
 */
export function originStep(approach: Approach, origin: DicomOrigin | undefined, measurements?: MeasurementSet): ((context: StepContext) => Promise<WriterOutcome>) | undefined {
  const estimated = measurements?.measurements.some((m) => m.diameters !== undefined) ?? false;
  if (origin?.kind === 'vendor-sr' && approach === 'sr' && !estimated) return (context) => vendorReport(context, origin);
  if (origin?.kind === 'legacy-tags' && approach === 'private') return (context) => Promise.resolve(legacyImages(origin));
  return undefined;
}

/** The vendor's SR as the SR outcome, after reading it again from Orthanc and checking its volumes are the measurements. */
async function vendorReport(context: StepContext, origin: Extract<DicomOrigin, { kind: 'vendor-sr' }>): Promise<VendorSrOutcome> {
  const { client, facts, measurements } = context;
  const series = facts.series.find((s) => s.instances.some((i) => i.sopInstanceUid === origin.sopInstanceUid));
  const instance = series?.instances.find((i) => i.sopInstanceUid === origin.sopInstanceUid);
  if (!series || !instance) {
    throw new KidneyVolumesError('not-found', `the measurements come from ${describeOrigin(origin)}, which is no longer in study ${facts.studyInstanceUid}; mark the study to give them again`, { origin });
  }
  const dataset = decodePart10(await client.instanceFile(instance.orthancId)).dataset;
  const source = vendorSrSource(readVendorSr(dataset, { deviceObserverUids: ownDeviceObserverUids(context.settings.uidRoot) }), {
    orthancInstanceId: instance.orthancId,
    orthancSeriesId: series.orthancId,
  });
  if (source.kind !== 'mark' || source.mark.set.digest !== measurements.digest) {
    throw new KidneyVolumesError('conflict', `${describeOrigin(origin)} no longer says what the pending measurements say; it was not used`, { origin });
  }
  return {
    approach: 'sr',
    summary: `${describeOrigin(origin)} is the study's SR; no second SR written (${measurements.measurements.length} measurement(s))`,
    alreadyPresent: true,
    details: {
      seriesInstanceUid: origin.seriesInstanceUid,
      sopInstanceUid: origin.sopInstanceUid,
      sopClassUid: origin.sopClassUid,
      orthancInstanceId: instance.orthancId,
      orthancSeriesId: series.orthancId,
      measurementCount: measurements.measurements.length,
      // The report is another system's: it adds nothing to what our outputs cost in storage.
      storedBytes: 0,
      addedBytes: 0,
      writtenBy: 'another system',
      manufacturer: origin.manufacturer,
      observer: origin.observer,
    },
  };
}

/** The private-tag outcome for images that already carry the original tool's block. */
function legacyImages(origin: Extract<DicomOrigin, { kind: 'legacy-tags' }>): LegacyImagesOutcome {
  return {
    approach: 'private',
    summary: `the images already carry ${describeOrigin(origin)}; not copied again`,
    alreadyPresent: true,
    details: { writtenBy: 'the original tool', seriesInstanceUid: origin.seriesInstanceUid, orthancSeriesId: origin.orthancSeriesId, creator: origin.creator },
  };
}
