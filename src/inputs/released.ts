/**
 * The versions of a study's measurements released before the one being delivered, as the study's
 * status history keeps them (src/status/status.ts writes it; each entry carries its measurements
 * in the structured mark form). Read by a results interface that has no FHIR Bundle recording what
 * it sent before: HL7 with KV_APPROACHES lacking fhir still sends a correction as a correction.
 */
import { z } from 'zod';
import type { ReleasedVersion } from '../fhir/versions.js';
import { parseMeasurementsJson } from '../measurements/parse.js';
import type { MeasurementSet } from '../measurements/model.js';
import type { OrthancClient } from '../orthanc/client.js';
import { METADATA } from '../orthanc/metadata.js';

// Only the fields read here; the status module's schema is the writer's and checks the rest.
const historySchema = z.object({
  history: z.array(z.object({ digest: z.string(), at: z.string(), mark: z.string().optional() })).optional(),
});

/**
 * The versions finished before the measurements `digest`, oldest first: the status history without
 * its newest entries of `digest` itself (a resend of a done version, or the version again after the
 * study grew, follows what came before it, not itself). Empty when the study has no readable status.
 */
export async function releasedBefore(client: OrthancClient, studyId: string, digest: string): Promise<ReleasedVersion[]> {
  const text = (await client.studyMetadata(studyId, METADATA.status))?.value;
  return releasedIn(text, digest);
}

/** releasedBefore on a status text already read. */
export function releasedIn(statusText: string | undefined, digest: string): ReleasedVersion[] {
  if (statusText === undefined) return [];
  let value: unknown;
  try {
    value = JSON.parse(statusText);
  } catch {
    return [];
  }
  const parsed = historySchema.safeParse(value);
  const history = parsed.success ? [...(parsed.data.history ?? [])] : [];
  while (history[history.length - 1]?.digest === digest) history.pop();
  return history.map((v) => ({ digest: v.digest, at: v.at, set: v.mark === undefined ? undefined : setOf(v.mark, v.digest) }));
}

/** The measurements of a kept mark, when it still reads as the version it was kept for. */
function setOf(mark: string, digest: string): MeasurementSet | undefined {
  try {
    const set = parseMeasurementsJson(mark);
    return set.digest === digest ? set : undefined;
  } catch {
    return undefined;
  }
}
