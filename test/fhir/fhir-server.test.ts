/**
 * Issue 14: the --fhir-server transaction semantics against a FHIR server that honours
 * conditional create and conditional update by identifier as R4 specifies (test/helpers/fhir-server.ts).
 */
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildKidneyVolumeBundle, type KidneyVolumeBundleOptions } from '../../src/fhir/bundle.js';
import { FhirServerError } from '../../src/fhir/errors.js';
import { readKidneyVolumeBundle, type StoredKidneyVolumes } from '../../src/fhir/read.js';
import { serializeResource } from '../../src/fhir/serialize.js';
import { postTransaction, sendBundle, toTransaction } from '../../src/fhir/transaction.js';
import type { MeasurementSet } from '../../src/measurements/model.js';
import { startFhirServer, type TestFhirServer } from '../helpers/fhir-server.js';
import { KIDNEYS, NOW, SR, measurementSet, studyFacts, volume } from './fixtures.js';

let server: TestFhirServer;
beforeEach(async () => {
  server = await startFhirServer();
});
afterEach(async () => {
  await server.stop();
});

const build = (set: MeasurementSet, options: KidneyVolumeBundleOptions): Bundle => buildKidneyVolumeBundle(studyFacts(), set, { sr: SR, ...options });
const read = (bundle: Bundle): StoredKidneyVolumes => readKidneyVolumeBundle(serializeResource(bundle));
const LATER = new Date('2024-05-06T08:00:00.000Z');
const LATEST = new Date('2024-05-07T09:00:00.000Z');
const CORRECTED = measurementSet([
  volume('Right Kidney', '130', { anatomy: 'right-kidney' }),
  volume('Left Kidney', '132', { anatomy: 'left-kidney' }),
  volume('Total Kidney Volume', '257.0', { anatomy: 'both-kidneys' }),
]);
const WITHOUT_TOTAL = measurementSet([volume('Right Kidney', '130', { anatomy: 'right-kidney' }), volume('Left Kidney', '132', { anatomy: 'left-kidney' })]);

/** The server's Observations as [tracking id, id, versionId, status, value]. */
function observations(): [string | undefined, string, string, string, number | undefined][] {
  return (server.current('Observation') as unknown as (Observation & { id: string; meta: { versionId: string } })[]).map((o) => [
    o.identifier?.[1]?.value,
    o.id,
    o.meta.versionId,
    o.status,
    o.valueQuantity?.value,
  ]);
}

describe('sendBundle against an R4 server with conditional create and update', () => {
  it('first version creates; the same version again changes nothing; a new version updates in place; a removed measurement ends entered-in-error', async () => {
    const first = build(KIDNEYS, { now: NOW });
    const sent1 = await sendBundle(server.base, first);
    expect(sent1).toMatchObject({ created: 5, updated: 0, unchanged: 0 });
    const created = observations();
    expect(created.map(([name, , version, status, value]) => [name, version, status, value])).toEqual([
      ['Right Kidney', '1', 'final', 125],
      ['Left Kidney', '1', 'final', 132],
      ['Total Kidney Volume', '1', 'final', 257],
    ]);
    // References between entries were resolved to the server's ids.
    const [right] = server.current('Observation') as Observation[];
    expect(right?.subject?.reference).toMatch(/^Patient\/\d+$/);
    expect(right?.derivedFrom?.[0]?.reference).toMatch(/^ImagingStudy\/\d+$/);

    // The same version again (a re-run of attach): no Observation is sent, no version is made.
    const before = server.requests.length;
    const sent2 = await sendBundle(server.base, build(KIDNEYS, { now: LATER, previous: read(first) }));
    expect(sent2).toMatchObject({ created: 0, updated: 0, unchanged: 3 });
    expect(observations()).toEqual(created);
    expect(server.current('Patient')).toHaveLength(1);
    expect(server.current('ImagingStudy')).toHaveLength(1);
    expect(server.requests.slice(before).map((r) => r.method)).toEqual(['GET', 'POST']);

    // A new version: the right kidney is updated in place, version 2, amended; the others untouched.
    const second = build(CORRECTED, { now: LATER, previous: read(first) });
    expect(await sendBundle(server.base, second)).toMatchObject({ created: 0, updated: 1, unchanged: 2 });
    const rightId = created[0]?.[1] as string;
    expect(observations()).toEqual([
      ['Right Kidney', rightId, '2', 'amended', 130],
      created[1],
      created[2],
    ]);
    expect(server.history('Observation', rightId).map((o) => [(o as Observation).status, (o as Observation).valueQuantity?.value])).toEqual([
      ['final', 125],
      ['amended', 130],
    ]);
    expect((server.current('Observation')[0] as Observation).issued).toBe(LATER.toISOString());

    // The same new version again changes nothing either.
    expect(await sendBundle(server.base, build(CORRECTED, { now: LATEST, previous: read(second) }))).toMatchObject({ created: 0, updated: 0, unchanged: 3 });

    // A version without the total: the server's total is retracted, not deleted and not duplicated.
    const third = build(WITHOUT_TOTAL, { now: LATEST, previous: read(second) });
    expect(await sendBundle(server.base, third)).toMatchObject({ created: 0, updated: 1, unchanged: 2 });
    expect(observations()).toEqual([
      ['Right Kidney', rightId, '2', 'amended', 130],
      created[1],
      ['Total Kidney Volume', created[2]?.[1], '2', 'entered-in-error', 257],
    ]);
    expect(server.current('Observation')).toHaveLength(3);
  });

  it('a server that missed a version is brought up to date by the next; a withdrawn Observation it never held is not created', async () => {
    const first = build(KIDNEYS, { now: NOW });
    const second = build(CORRECTED, { now: LATER, previous: read(first) });
    const third = build(WITHOUT_TOTAL, { now: LATEST, previous: read(second) });
    // This server only ever sees the third version.
    expect(await sendBundle(server.base, third)).toMatchObject({ created: 4, updated: 0, unchanged: 1 });
    expect(observations().map(([name, , version, status, value]) => [name, version, status, value])).toEqual([
      ['Right Kidney', '1', 'amended', 130],
      ['Left Kidney', '1', 'final', 132],
    ]);
    // And one that saw the first only gets the right kidney updated and the total retracted.
    const other = await startFhirServer();
    try {
      await sendBundle(other.base, first);
      expect(await sendBundle(other.base, third)).toMatchObject({ created: 0, updated: 2, unchanged: 1 });
      expect(other.current('Observation').map((o) => [(o as Observation).status, o.meta?.versionId])).toEqual([
        ['amended', '2'],
        ['final', '1'],
        ['entered-in-error', '2'],
      ]);
    } finally {
      await other.stop();
    }
  });

  it('two resources with one identifier on the server: the conditional update is refused with 412 and nothing is written', async () => {
    const first = build(KIDNEYS, { now: NOW });
    await sendBundle(server.base, first);
    const [right] = server.current('Observation') as Observation[];
    const { id: _id, meta: _meta, ...copy } = right as Observation;
    server.seed({ ...copy, valueQuantity: { ...copy.valueQuantity, value: 999 } });
    const error = await sendBundle(server.base, build(CORRECTED, { now: LATER, previous: read(first) })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FhirServerError);
    expect((error as FhirServerError).status).toBe(412);
    expect((error as FhirServerError).message).toMatch(/matches 2 resources/);
    expect(server.current('Observation').map((o) => o.meta?.versionId)).toEqual(['1', '1', '1', '1']);
  });

  it('a concurrent writer between the search and the transaction makes the update fail (ifMatch), not vanish', async () => {
    const first = build(KIDNEYS, { now: NOW });
    await sendBundle(server.base, first);
    const second = build(CORRECTED, { now: LATER, previous: read(first) });
    // Another system updates the right kidney after our search: the If-Match on version 1 fails.
    const tx = toTransaction(second);
    const right = tx.entry?.find((e) => e.resource?.resourceType === 'Observation');
    if (right?.request) right.request.ifMatch = 'W/"1"';
    await postTransaction(server.base, { resourceType: 'Bundle', type: 'transaction', entry: [{ ...right, request: { method: 'PUT', url: right?.request?.url ?? '' } }] });
    await expect(postTransaction(server.base, { ...tx, entry: [right ?? {}] })).rejects.toMatchObject({ status: 412 });
  });
});
