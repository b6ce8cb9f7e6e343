import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Message } from 'node-hl7-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DeliveryError } from '../../src/delivery/errors.js';
import type { DeliverySettings } from '../../src/delivery/settings.js';
import { buildSet } from '../../src/measurements/parse.js';
import type { Approach } from '../../src/pipeline/approaches.js';
import { attach } from '../../src/pipeline/attach.js';
import type { PrivateDetails } from '../../src/pipeline/outcomes.js';
import { outputsOf } from '../../src/status/status.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { startMllpListener, type MllpListener } from './mllp-listener.js';
import { startStoreScp, type StoreScp } from './storescp.js';

const SET = buildSet([
  { name: 'Right Kidney', value: '125 mL' },
  { name: 'Left Kidney', value: '132 mL' },
]);

let pacs: StoreScp;
let ris: MllpListener;
const folders: string[] = [];

beforeAll(async () => {
  pacs = await startStoreScp('STORESCP');
  ris = await startMllpListener(() => ({ code: 'AA' }));
}, 60_000);
// DOWN names a port nobody listens on: a PACS that is switched off.
const orthanc = useOrthanc(async () => ({ DicomModalities: { PACS1: [pacs.aet, '127.0.0.1', pacs.port], DOWN: ['NOBODY', '127.0.0.1', await freePort()] } }));

afterAll(async () => {
  await pacs?.stop();
  await ris?.stop();
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

function delivery(modalities: string[], derived: boolean, extra: Partial<DeliverySettings> = {}): DeliverySettings {
  return { forward: { modalities, derived, timeoutMs: 60_000 }, attempts: 2, retryBaseMs: 10, ...extra };
}

async function run(settings: DeliverySettings, approaches: Approach[] = ['sr']) {
  const source = await uploadStudy(orthanc.client, ctStudy(2));
  const report = attach({ client: orthanc.client, settings: { srSeriesNumber: 9999, timeZone: 'UTC', delivery: settings }, now: () => new Date() }, source.orthancId, SET, approaches);
  return { source, report };
}

/** SOP Instance UIDs of a series in Orthanc, by SeriesInstanceUID. */
async function sopInstanceUidsOf(seriesInstanceUid: string): Promise<string[]> {
  const series = (await orthanc.client.lookup(seriesInstanceUid)).find((r) => r.Type === 'Series');
  if (!series) throw new Error(`series ${seriesInstanceUid} not in Orthanc`);
  return (await orthanc.client.seriesInstances(series.ID)).map((i) => i.MainDicomTags['SOPInstanceUID'] ?? '');
}

describe('forwarding to a real C-STORE receiver (storescp) through Orthanc', () => {
  test('the SR and the derived series arrive, the HL7 results go out, and the outcomes say what went where', async () => {
    const before = new Set(pacs.receivedSopInstanceUids());
    const { report } = await run(delivery(['PACS1'], true, { hl7: { mllp: { host: ris.host, port: ris.port }, timeoutMs: 5000, sender: { application: 'KV', facility: '' }, receiver: { application: '', facility: '' } } }), ['sr', 'private']);
    const { outcomes } = await report;
    expect(outcomes.map((o) => o.approach)).toEqual(['sr', 'private', 'forward', 'hl7']);
    const sr = outcomes[0]?.details as { sopInstanceUid: string };
    const derived = (outcomes[1]?.details as PrivateDetails).series.map((s) => s.seriesInstanceUid);
    const expected = [sr.sopInstanceUid, ...(await Promise.all(derived.map(sopInstanceUidsOf))).flat()];
    expect(expected).toHaveLength(3);
    const arrived = pacs.receivedSopInstanceUids().filter((uid) => !before.has(uid));
    expect(arrived.sort()).toEqual([...expected].sort());
    expect(outcomes[2]).toMatchObject({
      approach: 'forward',
      summary: `SR ${sr.sopInstanceUid} and 1 derived series (2 images) sent to PACS1 (AE STORESCP)`,
      details: { srSopInstanceUid: sr.sopInstanceUid, derivedSeries: [{ seriesInstanceUid: derived[0], instances: 2 }], sent: [{ modality: 'PACS1', remoteAet: 'STORESCP', instances: 3, attempts: 1 }] },
    });
    const oru = new Message({ text: ris.received.at(-1) as string });
    expect(oru.get('OBR.3').toString()).toBe('ACC123');
    expect(oru.get('OBX.5').toString()).toBe('125');
  }, 60_000);

  test('without KV_FORWARD_DERIVED only the SR is sent', async () => {
    const before = new Set(pacs.receivedSopInstanceUids());
    const { outcomes } = await (await run(delivery(['PACS1'], false), ['sr', 'private'])).report;
    const sr = outcomes[0]?.details as { sopInstanceUid: string };
    expect(pacs.receivedSopInstanceUids().filter((uid) => !before.has(uid))).toEqual([sr.sopInstanceUid]);
    expect(outcomes.find((o) => o.approach === 'forward')?.summary).toBe(`SR ${sr.sopInstanceUid} sent to PACS1 (AE STORESCP)`);
  }, 60_000);

  test('a modality that is down fails the attach with a retryable error naming it, after PACS1 was served', async () => {
    const before = new Set(pacs.receivedSopInstanceUids());
    const error = (await (await run(delivery(['PACS1', 'DOWN'], false))).report.catch((e: unknown) => e)) as DeliveryError;
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error.kind).toBe('delivery');
    expect(error.message).toMatch(/^DICOM modality DOWN: C-STORE through Orthanc failed: 500 Internal Server Error from Orthanc: DicomAssociation - connecting to AET "NOBODY": .*Connection refused \(after 2 attempts\); delivered: SR [\d.]+ sent to PACS1 \(AE STORESCP\)$/);
    expect(pacs.receivedSopInstanceUids().filter((uid) => !before.has(uid))).toHaveLength(1);
  }, 60_000);

  test('a modality Orthanc does not know is a permanent error that says where to look', async () => {
    const error = (await (await run(delivery(['NOPE'], false))).report.catch((e: unknown) => e)) as DeliveryError;
    expect(error.kind).toBe('delivery-rejected');
    expect(error.message).toBe(`DICOM modality NOPE: Orthanc has no modality "NOPE" in its DicomModalities (check KV_FORWARD_MODALITIES and Orthanc's configuration)`);
  }, 60_000);
});

describe('what the study status shows of the deliveries', () => {
  test('outputsOf records what was forwarded where and which HL7 file was written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kv-hl7-'));
    folders.push(dir);
    const hl7 = { dir, timeoutMs: 5000, sender: { application: 'KV', facility: '' }, receiver: { application: '', facility: '' } };
    const { outcomes } = await (await run(delivery(['PACS1'], false, { hl7 }), ['sr', 'fhir'])).report;
    const { outputs, writes } = outputsOf(outcomes, new Date());
    expect(outputs['forward']).toMatchObject({ summary: expect.stringMatching(/^SR [\d.]+ sent to PACS1 \(AE STORESCP\)$/), sent: [{ modality: 'PACS1', remoteAet: 'STORESCP' }] });
    expect(outputs['hl7']).toMatchObject({ file: join(dir, readdirSync(dir)[0] as string), messageType: 'ORU^R01' });
    expect(writes.map((w) => w.approach)).toEqual(['sr', 'fhir', 'forward', 'hl7']);
  }, 60_000);
});

describe('the CLI with deliveries configured by environment variables', () => {
  test('attach prints what was delivered; a modality down exits 13 naming it; a bad KV_HL7_MLLP exits 3', async () => {
    const source = await uploadStudy(orthanc.client, ctStudy(1));
    const args = ['attach', source.studyInstanceUid, '--right', '125', '--approach', 'sr'];
    const ok = await runCli(args, { ...orthanc.env, KV_FORWARD_MODALITIES: 'PACS1', KV_HL7_MLLP: `${ris.host}:${ris.port}`, KV_TIMEZONE: 'UTC' });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^forward: delivered: SR [\d.]+ sent to PACS1 \(AE STORESCP\)$/m);
    expect(ok.stdout).toMatch(new RegExp(`^hl7: delivered: ORU\\^R01 [0-9A-F]{20} with 1 OBX: HL7 sent to ${ris.host}:${ris.port} \\(ACK AA\\)$`, 'm'));

    const down = await runCli(args, { ...orthanc.env, KV_FORWARD_MODALITIES: 'DOWN', KV_DELIVERY_ATTEMPTS: '1', KV_TIMEZONE: 'UTC' });
    expect(down.code).toBe(13);
    expect(down.stderr).toMatch(/^kidney-volumes: DICOM modality DOWN: C-STORE through Orthanc failed: .*"NOBODY".*Connection refused\n$/);

    const bad = await runCli(args, { ...orthanc.env, KV_HL7_MLLP: 'ris.example.org' });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toBe('kidney-volumes: KV_HL7_MLLP must be host:port, e.g. 10.0.0.5:2575, got "ris.example.org"\n');
  }, 60_000);
});
