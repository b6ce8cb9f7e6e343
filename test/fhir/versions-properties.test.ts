/**
 * Issue 14: property-based tests of the version chain (any sequence of measurement sets, each built
 * from the stored previous Bundle) and bounded fuzz tests of what is read from others: the stored
 * Bundle (Orthanc metadata anyone with write access can edit) and a FHIR server's search answer.
 * A fixed seed and a bounded number of runs keep them deterministic; raise KV_FUZZ_RUNS to search longer.
 */
import type { Bundle, Observation } from '@medplum/fhirtypes';
import fc from 'fast-check';
import type { Got } from 'got';
import { Message } from 'node-hl7-client';
import { describe, expect, it } from 'vitest';
import { oruR01 } from '../../src/delivery/hl7/oru.js';
import { buildKidneyVolumeBundle } from '../../src/fhir/bundle.js';
import { FhirBundleReadError, FhirServerError } from '../../src/fhir/errors.js';
import { structureKey } from '../../src/measurements/anatomy.js';
import { readKidneyVolumeBundle, type StoredKidneyVolumes } from '../../src/fhir/read.js';
import { formatStructuralIssues, structuralIssues } from '../../src/fhir/self-check.js';
import { serializeResource } from '../../src/fhir/serialize.js';
import { readServerObservations } from '../../src/fhir/transaction.js';
import { resultVersionOf, versionAfter, type ReleasedVersion, type ResultVersion } from '../../src/fhir/versions.js';
import { releasedIn } from '../../src/inputs/released.js';
import { markTextOf } from '../../src/inputs/person-mark.js';
import { buildSet } from '../../src/measurements/parse.js';
import type { MeasurementSet } from '../../src/measurements/model.js';
import { KIDNEYS, NOW, measurementSet, studyFacts, volume } from './fixtures.js';

const RUNS = Number(process.env['KV_FUZZ_RUNS'] ?? 60);
const PARAMS = { seed: 20261129, numRuns: RUNS } as const;
const HL7 = { sender: { application: 'KV', facility: '' }, receiver: { application: 'RIS', facility: '' } };

/** Structures a set may hold, with names that differ from version to version for the same anatomy. */
const STRUCTURES = [
  { names: ['Right Kidney', 'right', 'RK'] },
  { names: ['Left Kidney', 'left'] },
  { names: ['Total Volume', 'TKV'] },
  { names: ['Spleen'] },
  { names: ['Lesion 1', 'lesion_1'] },
] as const;

/** One version: for each structure, absent or (name choice, value, method?). */
const versionArb = fc
  .array(fc.option(fc.record({ name: fc.nat(2), value: fc.constantFrom('125', '130', '132', '99.5'), method: fc.option(fc.constant('manual'), { nil: undefined }) }), { nil: undefined }), {
    minLength: STRUCTURES.length,
    maxLength: STRUCTURES.length,
  })
  .filter((v) => v.some((m) => m !== undefined));

function setOf(version: readonly ({ name: number; value: string; method: string | undefined } | undefined)[]): MeasurementSet {
  return buildSet(
    version.flatMap((m, i) => {
      if (m === undefined) return [];
      const names = STRUCTURES[i]?.names ?? [];
      return [{ name: names[m.name % names.length] as string, value: `${m.value} ml`, ...(m.method ? { method: m.method } : {}) }];
    }),
  );
}

describe('the version chain (property)', () => {
  it('identifiers and OBX-4 never change for a structure; statuses follow the previous version; a rebuild is identical; ORU statuses match', () => {
    fc.assert(
      fc.property(fc.array(versionArb, { minLength: 1, maxLength: 5 }), (versions) => {
        let previous: StoredKidneyVolumes | undefined;
        const idOf = new Map<string, string>();
        const positionOf = new Map<string, string>();
        versions.forEach((v, n) => {
          const set = setOf(v);
          const now = new Date(Date.UTC(2024, 0, 1 + n));
          const bundle = buildKidneyVolumeBundle(studyFacts(), set, { now, ...(previous ? { previous } : {}) });
          expect(formatStructuralIssues(structuralIssues(bundle))).toBe('');
          const stored = readKidneyVolumeBundle(serializeResource(bundle));
          // One Observation per structure ever measured, with the identifier it first got.
          const keys = stored.all.map((o) => structureKey(o));
          expect(new Set(keys).size).toBe(keys.length);
          for (const o of stored.all) {
            const key = structureKey(o);
            expect(o.identifier).toBe(idOf.get(key) ?? o.identifier);
            idOf.set(key, o.identifier);
          }
          // The current Observations are exactly the set, values included.
          expect(stored.observations.map((o) => [structureKey(o), o.volumeMl]).sort()).toEqual(set.measurements.map((m) => [structureKey(m), m.volumeMl]).sort());
          // Statuses against the previous version.
          for (const o of stored.all) {
            const before = previous?.all.find((p) => structureKey(p) === structureKey(o));
            if (o.status === 'entered-in-error') expect(before).toBeDefined();
            else if (before === undefined) expect([o.status, o.issued]).toEqual(['final', now.toISOString()]);
            else if (before.status !== 'entered-in-error' && JSON.stringify({ ...before.observation, status: 0, issued: 0 }) === JSON.stringify({ ...o.observation, status: 0, issued: 0 })) {
              expect([o.status, o.issued]).toEqual([before.status, before.issued]);
            } else expect([o.status, o.issued]).toEqual(['amended', now.toISOString()]);
          }
          // The same set over its own stored Bundle (a re-run, a retry) comes out identical.
          expect(serializeResource(buildKidneyVolumeBundle(studyFacts(), set, { now: new Date(Date.UTC(2025, 0, 1)), previous: stored }))).toBe(serializeResource(bundle));
          // HL7 reads the same version: stable OBX-4 per structure, statuses from the FHIR ones.
          const version = resultVersionOf(stored, set);
          expect(version.correction).toBe(n > 0 && previous !== undefined);
          const message = new Message({ text: oruR01(studyFacts(), set, now, HL7, version).text });
          const sent: string[][] = [];
          message.get('OBX').forEach((s) => sent.push([s.get('3.9').toString(), s.get(4).toString(), s.get(11).toString()]));
          const expected = stored.all
            .filter((o) => !(o.status === 'entered-in-error' && o.issued !== now.toISOString()))
            .map((o) => [o.name, String(stored.all.indexOf(o) + 1), o.status === 'entered-in-error' ? 'D' : o.issued === now.toISOString() && o.status === 'amended' ? 'C' : 'F']);
          expect(sent).toEqual(expected);
          for (const o of stored.all) {
            const key = structureKey(o);
            const position = String(stored.all.indexOf(o) + 1);
            expect(positionOf.get(key) ?? position).toBe(position);
            positionOf.set(key, position);
          }
          previous = stored;
        });
      }),
      PARAMS,
    );
  });
});

describe('the version chain without a Bundle (property, issue 14: HL7 without the fhir approach)', () => {
  it('versionAfter the released sets gives what the Bundle chain gives: positions, names, changes, correction', () => {
    fc.assert(
      fc.property(fc.array(versionArb, { minLength: 1, maxLength: 6 }), (versions) => {
        // The status history never holds one digest twice in a row: a repeat is the same version.
        const sets = versions.map(setOf).filter((set, i, all) => i === 0 || all[i - 1]?.digest !== set.digest);
        let previous: StoredKidneyVolumes | undefined;
        const released: ReleasedVersion[] = [];
        sets.forEach((set, n) => {
          const now = new Date(Date.UTC(2024, 0, 1 + n));
          const stored = readKidneyVolumeBundle(serializeResource(buildKidneyVolumeBundle(studyFacts(), set, { now, ...(previous ? { previous } : {}) })));
          const fromBundle = resultVersionOf(stored, set);
          const fromHistory = versionAfter(released, set);
          const view = (v: ResultVersion) => [v.correction, v.results.map((r) => [r.position, r.name, r.change, r.measurement?.valueMl])];
          expect(view(fromHistory)).toEqual(view(fromBundle));
          // A resend of this version (the history then ends with it) reads the same.
          const done = [...released, { digest: set.digest, at: now.toISOString(), set }];
          const statusText = JSON.stringify({ history: done.map((v) => ({ digest: v.digest, at: v.at, mark: v.set ? markTextOf(v.set) : undefined })) });
          expect(view(versionAfter(releasedIn(statusText, set.digest), set))).toEqual(view(fromBundle));
          expect(versionAfter(releasedIn(statusText, set.digest), set).versionKey).toBe(fromHistory.versionKey);
          released.push({ digest: set.digest, at: now.toISOString(), set });
          previous = stored;
        });
      }),
      PARAMS,
    );
  });

  it('fuzz: a status text with any one value replaced reads as versions or none, never throws', () => {
    const set = buildSet([{ name: 'Right Kidney', value: '130 ml' }]);
    const first = buildSet([
      { name: 'Right Kidney', value: '125 ml' },
      { name: 'Left Kidney', value: '132 ml' },
    ]);
    const status = { state: 'done', digest: set.digest, history: [{ digest: first.digest, at: NOW.toISOString(), source: 'api', values: 'x', mark: markTextOf(first) }] };
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 5 }), fc.jsonValue(), (path, replacement) => {
        const released = releasedIn(JSON.stringify(mutate(status, path, replacement)), set.digest);
        for (const r of released) if (r.set !== undefined) expect(r.set.digest).toBe(r.digest);
        const version = versionAfter(released, set);
        expect(version.results.filter((r) => r.measurement !== undefined).map((r) => r.measurement?.valueMl)).toEqual(['130']);
      }),
      PARAMS,
    );
    expect(releasedIn('not json', set.digest)).toEqual([]);
    expect(releasedIn(undefined, set.digest)).toEqual([]);
  });
});

/** Replaces the value at a random path of a JSON value. */
function mutate(value: unknown, path: readonly number[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [step, ...rest] = path as [number, ...number[]];
  if (Array.isArray(value) && value.length > 0) {
    const i = step % value.length;
    return value.map((v, j) => (j === i ? mutate(v, rest, replacement) : v));
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0) return replacement;
    const key = keys[step % keys.length] as string;
    return { ...(value as Record<string, unknown>), [key]: mutate((value as Record<string, unknown>)[key], rest, replacement) };
  }
  return replacement;
}

describe('fuzz: readers of what others may have written', () => {
  const stored = JSON.parse(serializeResource(buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW }))) as unknown;

  it('a stored Bundle with any one value replaced reads back (and a next version builds on it) or fails with FhirBundleReadError', () => {
    const next = buildSet([{ name: 'Right Kidney', value: '130 ml' }]);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 8 }), fc.jsonValue(), (path, replacement) => {
        const text = JSON.stringify(mutate(stored, path, replacement));
        try {
          const read = readKidneyVolumeBundle(text);
          expect(read.observations.length).toBeGreaterThan(0);
          // What the reader accepts, the builder takes as the previous version.
          const bundle = buildKidneyVolumeBundle(studyFacts(), next, { now: new Date(Date.UTC(2025, 0, 1)), previous: read });
          expect(bundle.entry?.length).toBeGreaterThan(2);
        } catch (error) {
          if (!(error instanceof FhirBundleReadError)) throw error;
        }
      }),
      { ...PARAMS, numRuns: RUNS * 5 },
    );
  });

  it("a FHIR server's search answer of any shape gives a map or a FhirServerError", async () => {
    const bundle = buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW });
    const observation = (bundle.entry ?? [])[2]?.resource as Observation;
    const answer = fc.oneof(
      fc.jsonValue(),
      fc.jsonValue().map((v) => ({ resourceType: 'Bundle', type: 'searchset', entry: v })),
      fc.jsonValue().map((v) => ({ resourceType: 'Bundle', entry: [{ resource: { ...observation, identifier: v, meta: v } }] })),
      fc.jsonValue().map((v) => ({ resourceType: 'Bundle', entry: [{ resource: observation, search: v }], link: v })),
    );
    await fc.assert(
      fc.asyncProperty(answer, async (body) => {
        const fake = { get: async () => ({ statusCode: 200, body: JSON.stringify(body) }) } as unknown as Got;
        try {
          const found = await readServerObservations('http://fhir.test', bundle, { got: fake });
          expect(found).toBeInstanceOf(Map);
        } catch (error) {
          if (!(error instanceof FhirServerError)) throw error;
        }
      }),
      { ...PARAMS, numRuns: RUNS * 3 },
    );
  });
});

describe('regressions found by the fuzz tests', () => {
  const json = serializeResource(buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW }));

  it('a stored Bundle whose entry is not a list fails with a named rule, not a TypeError ([[1594499809], ""])', () => {
    const broken = JSON.stringify({ ...(JSON.parse(json) as Bundle), entry: '' });
    expect(() => readKidneyVolumeBundle(broken)).toThrow(new FhirBundleReadError('stored FHIR bundle: entry must be a list'));
  });

  it('a resourceType that is an object with a toString key is quoted, not converted ([[0], {"toString":{}}])', () => {
    const broken = JSON.stringify({ ...(JSON.parse(json) as Bundle), resourceType: { toString: {} } });
    expect(() => readKidneyVolumeBundle(broken)).toThrow('stored FHIR bundle: expected a collection Bundle, got {"toString":{}} "collection"');
  });

  it('a stored right kidney that lost its bodySite is still the right kidney of the next version, by its identifier (path [4, …, {}])', () => {
    const bundle = JSON.parse(json) as Bundle;
    const right = bundle.entry?.[2]?.resource as Observation;
    delete right.bodySite;
    const previous = readKidneyVolumeBundle(JSON.stringify(bundle));
    const corrected = measurementSet([
      volume('Right Kidney', '130', { anatomy: 'right-kidney' }),
      volume('Left Kidney', '132', { anatomy: 'left-kidney' }),
      volume('Total Kidney Volume', '257.0', { anatomy: 'both-kidneys' }),
    ]);
    const next = buildKidneyVolumeBundle(studyFacts(), corrected, { now: new Date(Date.UTC(2025, 0, 1)), previous });
    const observations = (next.entry ?? []).slice(2).map((e) => e.resource as Observation);
    expect(observations.map((o) => [o.identifier?.[0]?.value, o.status, o.bodySite?.coding?.[0]?.code])).toEqual([
      [right.identifier?.[0]?.value, 'amended', '9846003'],
      [previous.all[1]?.identifier, 'final', '18639004'],
      [previous.all[2]?.identifier, 'final', '64033007'],
    ]);
  });

  it('a next-page link to another host is not followed with the token', async () => {
    const bundle = buildKidneyVolumeBundle(studyFacts(), KIDNEYS, { now: NOW });
    const urls: string[] = [];
    const fake = {
      get: async (url: string) => {
        urls.push(url);
        return { statusCode: 200, body: JSON.stringify({ resourceType: 'Bundle', type: 'searchset', link: [{ relation: 'next', url: 'http://evil.test/steal' }] } satisfies Bundle) };
      },
    } as unknown as Got;
    await expect(readServerObservations('http://fhir.test/fhir', bundle, { got: fake, token: 't' })).rejects.toThrow(/next-page link to another server/);
    expect(urls).toHaveLength(1);
  });
});
