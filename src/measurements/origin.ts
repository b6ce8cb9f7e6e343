/**
 * Where a study's measurements came from when they came from DICOM (issue 16), and what became of
 * each DICOM input, kept in the study's KidneyVolumesInputs metadata. The measurement parser takes
 * only measurements, so the link from a pending mark to its source travels beside it, keyed by
 * the mark's digest: a person who marks again makes a new digest that no origin matches.
 */
import { z } from 'zod';

/** The DICOM sources of measurements this module knows; each can be switched off in configuration. */
export const DICOM_SOURCES = ['vendor-sr', 'legacy-tags'] as const;
/** One DICOM source. */
export type DicomSource = (typeof DICOM_SOURCES)[number];

const vendorSr = z.object({
  kind: z.literal('vendor-sr'),
  sopInstanceUid: z.string(),
  seriesInstanceUid: z.string(),
  sopClassUid: z.string(),
  orthancInstanceId: z.string(),
  orthancSeriesId: z.string(),
  manufacturer: z.string(),
  observer: z.string(),
  contentDateTime: z.string(),
});
const legacyTags = z.object({
  kind: z.literal('legacy-tags'),
  seriesInstanceUid: z.string(),
  orthancSeriesId: z.string(),
  /** The image the block was read from (every image of the series carries the same block). */
  sopInstanceUid: z.string(),
  orthancInstanceId: z.string(),
  /** Where the creator sat, e.g. "(0011,0010)". */
  creator: z.string(),
});
/** The schema of a DicomOrigin (the status store checks it). */
export const originSchema = z.discriminatedUnion('kind', [vendorSr, legacyTags]);

/** The DICOM object a set of measurements was read from. */
export type DicomOrigin = z.infer<typeof originSchema>;

/** The schema of an InputNote (the status store checks it). */
export const noteSchema = z.object({
  source: z.enum(DICOM_SOURCES),
  sopInstanceUid: z.string(),
  seriesInstanceUid: z.string(),
  /** used: became the pending mark; kept-existing: other measurements won; ignored: unsure or not about kidneys. */
  outcome: z.enum(['used', 'kept-existing', 'ignored']),
  reason: z.string(),
  at: z.string(),
});
/** What became of one DICOM input, for the status and `verify`. */
export type InputNote = z.infer<typeof noteSchema>;

/** Routes by which a person gives measurements through kidney-volumes itself (a PUT straight into Orthanc names none). */
export const PERSON_SOURCES = ['api', 'cli', 'attach'] as const;
/** One of PERSON_SOURCES. */
export type PersonSource = (typeof PERSON_SOURCES)[number];

const personMarkSchema = z.object({ digest: z.string(), source: z.enum(PERSON_SOURCES), at: z.string() });
/** Which route wrote the mark of a digest, so the status history can say so. */
export type PersonMark = z.infer<typeof personMarkSchema>;

const segMarkSchema = z.object({ digest: z.string(), sopInstanceUid: z.string(), at: z.string() });
/** A mark the segmentation trigger wrote: its digest and the SEG instance it measured. */
export type SegMark = z.infer<typeof segMarkSchema>;

const recordSchema = z.object({
  origins: z.array(z.object({ digest: z.string(), origin: originSchema })),
  notes: z.array(noteSchema),
  /** Absent in records written before corrections were tracked (issue 14). */
  marks: z.array(personMarkSchema).optional(),
  /** Marks the segmentation trigger wrote (absent in records written before they were recorded). */
  segs: z.array(segMarkSchema).optional(),
});
/** The KidneyVolumesInputs metadata. */
export type InputsRecord = z.infer<typeof recordSchema>;

/** Origins kept: enough for marks replaced while a study is processed, few enough to stay small. */
const MAX_ORIGINS = 8;
/** Notes kept, newest last. */
const MAX_NOTES = 20;

/** An empty record. */
export const NO_INPUTS: InputsRecord = { origins: [], notes: [] };

/** Parses the stored record; a missing or unreadable one reads as empty (it is rewritten whole on the next write). */
export function parseInputs(text: string | undefined): InputsRecord {
  if (text === undefined) return NO_INPUTS;
  try {
    const parsed = recordSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : NO_INPUTS;
  } catch {
    return NO_INPUTS;
  }
}

/** The origin of the measurements with this digest, if they were read from DICOM. */
export function originFor(record: InputsRecord, digest: string): DicomOrigin | undefined {
  return [...record.origins].reverse().find((o) => o.digest === digest)?.origin;
}

/** The record with an origin added for a digest (an older entry for the same digest is replaced). */
export function withOrigin(record: InputsRecord, digest: string, origin: DicomOrigin): InputsRecord {
  const origins = [...record.origins.filter((o) => o.digest !== digest), { digest, origin }].slice(-MAX_ORIGINS);
  return { ...record, origins };
}

/** The route that wrote the person's mark of this digest, if it was written through kidney-volumes. */
export function markSourceFor(record: InputsRecord, digest: string): PersonSource | undefined {
  return [...(record.marks ?? [])].reverse().find((m) => m.digest === digest)?.source;
}

/** The record with the route of a person's mark added (an older entry for the same digest is replaced). */
export function withMarkSource(record: InputsRecord, mark: PersonMark): InputsRecord {
  return { ...record, marks: [...(record.marks ?? []).filter((m) => m.digest !== mark.digest), mark].slice(-MAX_ORIGINS) };
}

/** The record with a SEG's mark added (an older entry for the same digest is replaced). */
export function withSegMark(record: InputsRecord, mark: SegMark): InputsRecord {
  return { ...record, segs: [...(record.segs ?? []).filter((m) => m.digest !== mark.digest), mark].slice(-MAX_ORIGINS) };
}

/**
 * True when the mark of this set is a SEG's: the segmentation trigger recorded writing exactly
 * these measurements (the digest) from the SEG they name, and no person gave them through
 * kidney-volumes since. A mark a person typed straight into Orthanc, copying a SEG's fields, is a
 * person's mark unless its values are exactly what the sidecar measured from that SEG.
 */
export function isSegMark(record: InputsRecord, set: { readonly digest: string; readonly measurements: readonly { readonly segmentation?: { readonly sopInstanceUid: string } }[] }): boolean {
  const recorded = [...(record.segs ?? [])].reverse().find((m) => m.digest === set.digest);
  if (recorded === undefined || markSourceFor(record, set.digest) !== undefined) return false;
  const named = set.measurements.map((m) => m.segmentation?.sopInstanceUid).filter((uid): uid is string => uid !== undefined);
  return named.length > 0 && named.every((uid) => uid === recorded.sopInstanceUid);
}

/** The record with a note added; a note about the same object and outcome replaces the earlier one. */
export function withNote(record: InputsRecord, note: InputNote): InputsRecord {
  const notes = [...record.notes.filter((n) => !sameNote(n, note)), note].slice(-MAX_NOTES);
  return { ...record, notes };
}

/** Notes about the same object with the same outcome and reason: a series that becomes stable again says nothing new. */
export function sameNote(a: InputNote, b: InputNote): boolean {
  return a.source === b.source && a.sopInstanceUid === b.sopInstanceUid && a.outcome === b.outcome && a.reason === b.reason;
}

/** The origin as FHIR references it: the SR by its SOP Instance UID, the original tool's images by their series UID. */
export function sourceReference(origin: DicomOrigin): { uid: string; display: string } {
  if (origin.kind === 'vendor-sr') return { uid: origin.sopInstanceUid, display: `DICOM SR ${origin.sopInstanceUid}${origin.manufacturer ? ` (${origin.manufacturer})` : ''}` };
  return { uid: origin.seriesInstanceUid, display: `DICOM series ${origin.seriesInstanceUid} (the original tool's KidneyVolInfo private tags)` };
}

/** One line naming an origin, for the status summary, logs and `verify`. */
export function describeOrigin(origin: DicomOrigin): string {
  if (origin.kind === 'vendor-sr') {
    const by = [origin.manufacturer && `manufacturer ${origin.manufacturer}`, origin.observer && `observer ${origin.observer}`].filter(Boolean).join(', ');
    return `SR ${origin.sopInstanceUid} from another system${by ? ` (${by})` : ''}`;
  }
  return `the original tool's KidneyVolInfo block at ${origin.creator} of series ${origin.seriesInstanceUid}`;
}
