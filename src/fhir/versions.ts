/**
 * Versions of a study's results (issue 14): how a new measurement set relates to the one the study's
 * stored Bundle holds, decided once here and read by both the FHIR Bundle and the HL7 ORU.
 *
 * Statuses, from the R4 ObservationStatus definitions (hl7.org/fhir/R4/codesystem-observation-status.html):
 * - `final` ("complete and there are no further actions needed"): a measurement in its first version,
 *   and one that a later version leaves as it was (its `issued` kept: nothing about it was re-released).
 * - `amended` ("Subsequent to being Final, the observation has been modified to correct, add
 *   information, or otherwise modify it"): a measurement whose Observation changes in a later version.
 *   Not `corrected`: that child code says the earlier value was an *error in the test result*, and a new
 *   version may as well be a re-measurement, a refined segmentation or a second reader; this program
 *   cannot know which, and `amended` is true of all of them. An amended Observation that a still later
 *   version leaves alone stays `amended` with its `issued` (the status tells its history, not the event).
 * - `entered-in-error` ("withdrawn following previous final release"): a measurement the new version
 *   no longer has. Not `cancelled`, which is for an observation that was "not started or not
 *   completed"; this one was completed and released, and is now withdrawn.
 * A new version's changed and withdrawn Observations get the version's time as `issued`; the Bundle's
 * `timestamp` is that time too, which is how a reader (the HL7 ORU, a retry) tells "changed in this
 * version" from "changed in an earlier one" without a second record.
 *
 * The retracted Observation stays in the stored Bundle (and every later version), so an export
 * (`--fhir-out`, `--fhir-server`) can still tell a FHIR server to retract it, and a receiver that
 * missed a version is brought up to date by the next one.
 */
import type { Observation } from '@medplum/fhirtypes';
import type { Measurement, MeasurementSet } from '../measurements/model.js';
import { structureKey } from '../measurements/anatomy.js';
import type { StoredKidneyVolumes, StoredVolume, WrittenStatus } from './read.js';

/** One Observation slot of a version: a measurement of this set, a retracted earlier one, or both. */
export interface VersionSlot {
  /** What is measured (src/measurements/anatomy.ts structureKey). */
  readonly key: string;
  /** The measurement of this set, undefined when this version no longer has it. */
  readonly measurement: Measurement | undefined;
  /** The same structure's Observation in the previous version, when it had one. */
  readonly previous: StoredVolume | undefined;
}

/**
 * The slots of a new version in a stable order: the previous version's Observations in their order
 * (retracted ones included, so positions never shift), then this set's new measurements in set order.
 * The HL7 OBX-4 sub-ID is the slot's position, so it stays the same for a measurement across versions.
 * A stored Observation takes the measurement whose identifier (`identifierOf` its structure) it
 * carries, else the one of its structure (Bundles written before structure keys had other identifiers).
 */
export function versionSlots(previous: StoredKidneyVolumes | undefined, set: MeasurementSet, identifierOf: (key: string) => string): VersionSlot[] {
  const byKey = new Map(set.measurements.map((m) => [structureKey(m), m] as const));
  const byId = new Map([...byKey].map(([key, m]) => [identifierOf(key), key] as const));
  const taken = new Set<string>();
  const slots: VersionSlot[] = [];
  const olds = previous?.all ?? [];
  // First the exact identity links, so a hand-edited Observation cannot take another's measurement.
  const linked = olds.map((old) => {
    const key = byId.get(old.identifier);
    if (key !== undefined) taken.add(key);
    return key;
  });
  olds.forEach((old, i) => {
    let key = linked[i];
    if (key === undefined) {
      const own = structureKey(old);
      // Two stored Observations of one structure (a name and an alias of it): the first takes the measurement.
      if (byKey.has(own) && !taken.has(own)) {
        key = own;
        taken.add(own);
      }
    }
    slots.push({ key: key ?? structureKey(old), measurement: key === undefined ? undefined : byKey.get(key), previous: old });
  });
  for (const [key, measurement] of byKey) if (!taken.has(key)) slots.push({ key, measurement, previous: undefined });
  return slots;
}

/** A value with object keys sorted, so two Observations compare by content, not by key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** What an Observation says, without the version bookkeeping (status, issued) and server metadata. */
function content(obs: Observation): string {
  const { status: _status, issued: _issued, meta: _meta, id: _id, text: _text, ...rest } = obs;
  return canonical(rest);
}

/** True when the two Observations say the same thing (value, body site, method, performer, sources...). */
export function sameContent(a: Observation, b: Observation): boolean {
  return content(a) === content(b);
}

/** Status and `issued` of one Observation in a version. */
export interface VersionStamp {
  readonly status: WrittenStatus;
  readonly issued: string;
}

/**
 * The stamp of a measurement's Observation in a new version, given the Observation built for it and
 * the previous version's (see the module comment for why each status).
 */
export function stampFor(built: Observation, previous: StoredVolume | undefined, versionTime: string): VersionStamp {
  if (previous === undefined) return { status: 'final', issued: versionTime };
  if (previous.status !== 'entered-in-error' && previous.issued !== undefined && sameContent(built, previous.observation)) {
    return { status: previous.status, issued: previous.issued };
  }
  // Changed, or back after a version that had withdrawn it: a modification after final release.
  return { status: 'amended', issued: versionTime };
}

/** The latest `issued` of a stored version: the version time of Bundles written before Bundle.timestamp was. */
export function versionTimeOf(stored: StoredKidneyVolumes): string | undefined {
  if (stored.timestamp !== undefined) return stored.timestamp;
  const times = stored.all.map((o) => o.issued).filter((t): t is string => t !== undefined);
  return times.length === 0 ? undefined : times.reduce((a, b) => (Date.parse(a) >= Date.parse(b) ? a : b));
}

/** What happened to one measurement in a version, for a results interface that sends events (HL7 v2). */
export type ResultChange =
  /** First released in this version. */
  | 'new'
  /** Released earlier and left as it was. */
  | 'unchanged'
  /** Released earlier and changed in this version. */
  | 'changed'
  /** Withdrawn in this version. */
  | 'removed'
  /** Withdrawn in an earlier version: nothing to send again. */
  | 'removed-earlier';

/** One measurement's place and change in a version. */
export interface VersionedResult {
  /** 1-based position in the version's stable order (the HL7 OBX-4 sub-ID). */
  readonly position: number;
  /** The measurement's name (for a removed one, as it was last released). */
  readonly name: string;
  /** The anatomy of a removed measurement, as it was last released (the current one is on `measurement`). */
  readonly anatomy: StoredVolume['anatomy'];
  /** The measurement of this set; undefined when removed. */
  readonly measurement: Measurement | undefined;
  readonly change: ResultChange;
}

/** One version of a study's results, as the stored Bundle records it. */
export interface ResultVersion {
  /** True when an earlier version was released (the HL7 OBR-25 is then C). */
  readonly correction: boolean;
  /** When this version was first assembled (Bundle.timestamp); undefined when no Bundle records it. */
  readonly versionTime: string | undefined;
  /**
   * What tells this version apart from another version of the same measurements (125, 130, then 125
   * again), for the HL7 MSH-10: the version time when a Bundle records it, else the released version
   * before it (its digest and when it was finished); undefined for a first version.
   */
  readonly versionKey: string | undefined;
  readonly results: readonly VersionedResult[];
}

/** A version with no earlier one, for when no Bundle records the history (the fhir approach not run). */
export function firstVersion(set: MeasurementSet): ResultVersion {
  return {
    correction: false,
    versionTime: undefined,
    versionKey: undefined,
    results: set.measurements.map((m, i) => ({ position: i + 1, name: m.name, anatomy: m.anatomy, measurement: m, change: 'new' })),
  };
}

/**
 * The version a Bundle of `set` records: each Observation's change read from its status and whether
 * its `issued` is the Bundle's version time. Throws when the Bundle does not hold exactly the set's
 * measurements (a Bundle of another version is a bug in the caller, never something to send).
 */
export function resultVersionOf(stored: StoredKidneyVolumes, set: MeasurementSet): ResultVersion {
  const versionTime = versionTimeOf(stored);
  const byKey = new Map(set.measurements.map((m) => [structureKey(m), m] as const));
  const results = stored.all.map((o, i): VersionedResult => {
    const now = versionTime !== undefined && o.issued === versionTime;
    const change: ResultChange =
      o.status === 'entered-in-error' ? (now ? 'removed' : 'removed-earlier') : o.status === 'final' ? (now ? 'new' : 'unchanged') : now ? 'changed' : 'unchanged';
    const measurement = o.status === 'entered-in-error' ? undefined : byKey.get(structureKey(o));
    if (o.status !== 'entered-in-error' && measurement === undefined) {
      throw new Error(`the Bundle's Observation "${o.name}" is not a measurement of set ${set.digest.slice(0, 12)}`);
    }
    return { position: i + 1, name: o.name, anatomy: o.anatomy, measurement, change };
  });
  if (results.filter((r) => r.measurement !== undefined).length !== set.measurements.length) {
    throw new Error(`the Bundle does not hold every measurement of set ${set.digest.slice(0, 12)}`);
  }
  return { correction: results.some((r) => r.change !== 'new'), versionTime, versionKey: versionTime, results };
}

/** One version released before, as the study's status history keeps it (src/status/status.ts). */
export interface ReleasedVersion {
  readonly digest: string;
  /** When it was finished. */
  readonly at: string;
  /** Its measurements; undefined when the history entry predates keeping them. */
  readonly set: MeasurementSet | undefined;
}

/** The measurement without its computed number: everything an Observation or OBX says about it. */
function measurementContent(m: Measurement): string {
  const { volumeMl: _volume, ...rest } = m;
  return canonical(rest);
}

/**
 * The version of `set` after the versions `released` before it (oldest first), for a results
 * interface that runs without the fhir approach, so without a Bundle to record what was released
 * (HL7 with KV_APPROACHES lacking fhir). The rules are the Bundle's (stampFor, versionSlots): each
 * structure keeps the position it was first released at, a measurement that differs in anything it
 * says (value, name, anatomy, method, operator, source, SEG, diameters) is changed, one the set no
 * longer has is removed, and one back after a version without it is changed. History entries that
 * predate keeping measurements cannot be compared: every measurement then counts as changed.
 */
export function versionAfter(released: readonly ReleasedVersion[], set: MeasurementSet): ResultVersion {
  const previous = released[released.length - 1];
  if (previous === undefined) return firstVersion(set);
  const versionKey = `after ${previous.digest} ${previous.at}`;
  const known = released.map((r) => r.set);
  if (known.some((s) => s === undefined)) {
    const results = set.measurements.map((m, i): VersionedResult => ({ position: i + 1, name: m.name, anatomy: m.anatomy, measurement: m, change: 'changed' }));
    return { correction: true, versionTime: undefined, versionKey, results };
  }
  interface Slot {
    readonly key: string;
    last: Measurement;
    present: boolean;
    addedIn: number;
    changedIn: number;
  }
  const slots: Slot[] = [];
  const versions = [...(known as MeasurementSet[]), set];
  versions.forEach((version, index) => {
    const byKey = new Map(version.measurements.map((m) => [structureKey(m), m] as const));
    for (const slot of slots) {
      const m = byKey.get(slot.key);
      byKey.delete(slot.key);
      if (m === undefined) {
        if (slot.present) slot.changedIn = index;
        slot.present = false;
        continue;
      }
      if (!slot.present || measurementContent(slot.last) !== measurementContent(m)) slot.changedIn = index;
      slot.present = true;
      slot.last = m;
    }
    for (const [key, m] of byKey) slots.push({ key, last: m, present: true, addedIn: index, changedIn: index });
  });
  const now = versions.length - 1;
  const results = slots.map((slot, i): VersionedResult => {
    const change: ResultChange = slot.present
      ? slot.addedIn === now
        ? 'new'
        : slot.changedIn === now
          ? 'changed'
          : 'unchanged'
      : slot.changedIn === now
        ? 'removed'
        : 'removed-earlier';
    return { position: i + 1, name: slot.last.name, anatomy: slot.last.anatomy, measurement: slot.present ? slot.last : undefined, change };
  });
  return { correction: true, versionTime: undefined, versionKey, results };
}
