/** What `verify` says for an approach whose output is a DICOM object that was already there (issue 16). */
import { parseMeasurementsJson } from '../measurements/parse.js';
import type { Approach, StoredOutcome } from './approaches.js';
import type { StudyFacts } from '../study/facts.js';
import { describeOrigin, originFor, parseInputs, type DicomOrigin } from '../measurements/origin.js';

/** The origin of the pending measurements, from the raw metadata values `verify` read. */
export function pendingOrigin(pending: string | undefined, inputs: string | undefined): DicomOrigin | undefined {
  if (pending === undefined || inputs === undefined) return undefined;
  try {
    return originFor(parseInputs(inputs), parseMeasurementsJson(pending).digest);
  } catch {
    return undefined;
  }
}

/** True when the pending measurements hold an ellipsoid estimate: a report that gave only diameters is then not the study's SR. */
export function pendingEstimated(pending: string | undefined): boolean {
  try {
    return pending !== undefined && parseMeasurementsJson(pending).measurements.some((m) => m.diameters !== undefined);
  } catch {
    return false;
  }
}

/** The stored outcome of an approach served by the origin itself; undefined when the approach's own step reports. */
export function originStored(approach: Approach, origin: DicomOrigin | undefined, facts: StudyFacts, estimated = false): StoredOutcome | undefined {
  if (origin?.kind === 'vendor-sr' && approach === 'sr' && !estimated) {
    const present = facts.series.some((s) => s.instances.some((i) => i.sopInstanceUid === origin.sopInstanceUid));
    const details = { writtenBy: 'another system', sopInstanceUid: origin.sopInstanceUid, seriesInstanceUid: origin.seriesInstanceUid, manufacturer: origin.manufacturer, observer: origin.observer };
    return present
      ? { approach, found: true, summary: `${describeOrigin(origin)} is the study's SR (the measurements were read from it)`, details }
      : { approach, found: false, summary: `${describeOrigin(origin)}, which the measurements were read from, is no longer in the study`, details };
  }
  if (origin?.kind === 'legacy-tags' && approach === 'private') {
    const present = facts.series.some((s) => s.seriesInstanceUid === origin.seriesInstanceUid);
    return { approach, found: present, summary: `${present ? '' : 'gone: '}the images already carry ${describeOrigin(origin)}`, details: { writtenBy: 'the original tool', seriesInstanceUid: origin.seriesInstanceUid, creator: origin.creator } };
  }
  return undefined;
}
