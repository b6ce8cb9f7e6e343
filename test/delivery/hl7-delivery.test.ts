import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Message } from 'node-hl7-client';
import { afterEach, describe, expect, test } from 'vitest';
import { NOTHING_WRITTEN } from '../../src/delivery/context.js';
import { DeliveryError } from '../../src/delivery/errors.js';
import { parseAck } from '../../src/delivery/hl7/ack.js';
import { hl7FileName } from '../../src/delivery/hl7/deliver.js';
import { runDeliveries } from '../../src/delivery/run.js';
import type { DeliverySettings, Hl7Settings } from '../../src/delivery/settings.js';
import { OrthancClient } from '../../src/orthanc/client.js';
import { freePort } from '../helpers/orthanc.js';
import { FACTS, NOW, SET } from './fixtures.js';
import { startMllpListener, type MllpListener, type Reply } from './mllp-listener.js';

/**
 * No Orthanc behind it: the HL7 delivery only reads the study's status (the versions released
 * before, src/inputs/released.ts), and these studies have none, so each message is a first version.
 */
class NoStatusOrthanc extends OrthancClient {
  override studyMetadata(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
}
const NO_ORTHANC = new NoStatusOrthanc({ url: 'http://127.0.0.1:9' });
const PARTIES = { sender: { application: 'KIDNEY_VOLUMES', facility: '' }, receiver: { application: 'RIS', facility: '' } };

let listener: MllpListener | undefined;
const folders: string[] = [];
afterEach(async () => {
  await listener?.stop();
  listener = undefined;
  for (const f of folders.splice(0)) rmSync(f, { recursive: true, force: true });
});

/** Runs the HL7 delivery alone, recording the backoff delays instead of waiting them. */
async function deliver(hl7: Partial<Hl7Settings>, attempts = 3) {
  const delays: number[] = [];
  const settings: DeliverySettings = { hl7: { timeoutMs: 2000, ...PARTIES, ...hl7 }, attempts, retryBaseMs: 100 };
  const run = runDeliveries({ client: NO_ORTHANC, facts: FACTS, measurements: SET, now: NOW, written: NOTHING_WRITTEN, settings, sleep: async (ms) => void delays.push(ms) });
  return { run, delays };
}

async function listen(reply: (n: number) => Reply): Promise<MllpListener> {
  listener = await startMllpListener(reply);
  return listener;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kv-hl7-'));
  folders.push(dir);
  return dir;
}

describe('HL7 ORU^R01 over MLLP to a real listener', () => {
  test('AA: the listener receives one parseable ORU^R01 and the outcome says where it went', async () => {
    const l = await listen(() => ({ code: 'AA' }));
    const { run, delays } = await deliver({ mllp: { host: l.host, port: l.port } });
    const [outcome] = await run;
    expect(l.protocolErrors).toEqual([]);
    expect(l.received).toHaveLength(1);
    const received = new Message({ text: l.received[0] as string });
    expect(received.get('MSH.9.1').toString()).toBe('ORU');
    expect(received.get('PID.3.1').toString()).toBe('PID~7');
    const values: string[] = [];
    received.get('OBX').forEach((s) => values.push(s.get(5).toString()));
    expect(values).toEqual(['125.50', '132', '257.5', '3.2']);
    expect(outcome).toMatchObject({
      approach: 'hl7',
      summary: expect.stringContaining(`sent to ${l.host}:${l.port} (ACK AA)`),
      details: { messageType: 'ORU^R01', controlId: received.get('MSH.10').toString(), observations: 4, mllp: { peer: `${l.host}:${l.port}`, ack: 'AA', attempts: 1 } },
    });
    expect(delays).toEqual([]);
  });

  test('AE is retried with backoff, and an AA on the second attempt delivers the same message again', async () => {
    const l = await listen((n) => (n === 0 ? { code: 'AE', text: 'database | locked' } : { code: 'AA' }));
    const { run, delays } = await deliver({ mllp: { host: l.host, port: l.port } });
    const [outcome] = await run;
    expect(l.received).toHaveLength(2);
    expect(l.received[1]).toBe(l.received[0]);
    expect(outcome?.details).toMatchObject({ mllp: { ack: 'AA', attempts: 2 } });
    expect(delays).toEqual([100]);
  });

  test('AE every time: a retryable DeliveryError quoting the ACK text after every attempt', async () => {
    const l = await listen(() => ({ code: 'AE', text: 'unknown patient' }));
    const { run, delays } = await deliver({ mllp: { host: l.host, port: l.port } });
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).kind).toBe('delivery');
    expect((error as DeliveryError).message).toBe(`HL7 MLLP ${l.host}:${l.port}: ACK AE: unknown patient; Application internal error (after 3 attempts)`);
    expect(l.received).toHaveLength(3);
    expect(delays).toEqual([100, 200]);
  });

  test('AR is final: one attempt, a non-retryable error naming the ACK text', async () => {
    const l = await listen(() => ({ code: 'AR', text: 'unsupported message type' }));
    const { run } = await deliver({ mllp: { host: l.host, port: l.port } });
    const error = (await run.catch((e: unknown) => e)) as DeliveryError;
    expect(error.kind).toBe('delivery-rejected');
    expect(error.message).toBe(`HL7 MLLP ${l.host}:${l.port}: ACK AR: unsupported message type; Application internal error`);
    expect(l.received).toHaveLength(1);
  });

  test('a listener that never answers: a timeout per attempt, named in the error', async () => {
    const l = await listen(() => 'silent');
    const { run } = await deliver({ mllp: { host: l.host, port: l.port }, timeoutMs: 300 }, 2);
    const started = Date.now();
    const error = (await run.catch((e: unknown) => e)) as DeliveryError;
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(error.message).toBe(`HL7 MLLP ${l.host}:${l.port}: no ACK from ${l.host}:${l.port} within 300 ms (after 2 attempts)`);
    expect(l.received).toHaveLength(2);
  });

  test('an ACK for another message, a hang-up and a refused connection all fail clearly', async () => {
    const l = await listen((n) => (n === 0 ? { code: 'AA', controlId: 'SOMEONE-ELSE' } : 'hang-up'));
    const { run } = await deliver({ mllp: { host: l.host, port: l.port } }, 2);
    const error = (await run.catch((e: unknown) => e)) as DeliveryError;
    expect(error.message).toBe(`HL7 MLLP ${l.host}:${l.port}: ${l.host}:${l.port} closed the connection without an ACK (after 2 attempts)`);
    expect(l.received).toHaveLength(2);
    const port = await freePort();
    const refused = (await (await deliver({ mllp: { host: '127.0.0.1', port } }, 1)).run.catch((e: unknown) => e)) as DeliveryError;
    expect(refused.message).toBe(`HL7 MLLP 127.0.0.1:${port}: cannot send to 127.0.0.1:${port} (connection refused)`);
  });

  test.each(['../../../escaped', '1.2.3/../4', '1.2.3\u0000', '.', '1..2', 'a.b', `1.${'2'.repeat(63)}`, ''])(
    'issue 12 item 17: StudyInstanceUID %j cannot name an HL7 file',
    (uid) => {
      expect(() => hl7FileName(uid, 'A1B2C3D4E5F6A7B8C9D0')).toThrow('is not a DICOM UID (digits and dots, at most 64 characters), so it cannot name the HL7 file');
    },
  );

  test('the file and the MLLP copy are the same message; the file is named by study UID and MSH-10', async () => {
    const l = await listen(() => ({ code: 'AA' }));
    // The folder exists: the delivery never creates it (issue 12 item 17).
    const dir = tempDir();
    const { run } = await deliver({ dir, mllp: { host: l.host, port: l.port } });
    const [outcome] = await run;
    const controlId = (outcome?.details as { controlId: string }).controlId;
    const name = hl7FileName(FACTS.studyInstanceUid, controlId);
    expect(name).toBe(`${FACTS.studyInstanceUid}_${controlId}.hl7`);
    expect(readdirSync(dir)).toEqual([name]);
    expect(readFileSync(join(dir, name), 'utf8')).toBe(l.received[0]);
    expect(outcome?.details).toMatchObject({ file: join(dir, name) });
    expect(outcome?.summary).toMatch(/HL7 written to .*\.hl7, HL7 sent to/);
  });

  test('an unwritable folder fails the HL7 delivery, and the MLLP copy still goes out and is reported', async () => {
    const l = await listen(() => ({ code: 'AA' }));
    const blocker = join(tempDir(), 'a-file');
    await import('node:fs/promises').then((fs) => fs.writeFile(blocker, 'x'));
    const { run } = await deliver({ dir: join(blocker, 'sub'), mllp: { host: l.host, port: l.port } }, 1);
    const error = (await run.catch((e: unknown) => e)) as DeliveryError;
    // A path through a file (ENOTDIR) needs a person: permanent, so the study is not retried for it.
    expect(error.kind).toBe('delivery-rejected');
    expect(error.message).toMatch(new RegExp(`^HL7 folder ${blocker}/sub: cannot write the message: .*ENOTDIR.*; delivered: HL7 sent to ${l.host}:${l.port} \\(ACK AA\\)$`));
    expect(l.received).toHaveLength(1);
  });
});

describe('reading ACKs', () => {
  test('MSA and every ERR text, with LF or CR segment ends; garbage is refused with a quote', () => {
    const ack = 'MSH|^~\\&|RIS||KV||20240507||ACK^R01^ACK|1|P|2.5.1\nMSA|AE|ABC|first\nERR|||207^Application internal error^HL70357|E||||first\nERR|||100^Segment sequence error^HL70357|E';
    expect(parseAck(ack)).toEqual({ code: 'AE', controlId: 'ABC', text: 'first; Application internal error; Segment sequence error' });
    expect(() => parseAck('HTTP/1.1 400 Bad Request')).toThrow('the reply is not a readable HL7 ACK (text must begin with the MSH segment.): "HTTP/1.1 400 Bad Request"');
    expect(() => parseAck('MSH|^~\\&|RIS||KV||20240507||ACK|1|P|2.5.1\rMSA|OK|ABC')).toThrow('MSA-1 should be AA, AE or AR, is "OK"');
  });
});
