// DICOMweb delivery (issue 15): STOW-RS by the sidecar to a second real Orthanc running the
// DICOMweb plugin from the same build as the Orthanc under test (Debian's orthanc-dicomweb for
// 1.10, the Debian 13 root's for 1.12). What arrives must be byte-identical to what was stored.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, test } from 'vitest';
import { DeliveryError } from '../../src/delivery/errors.js';
import type { DeliverySettings, DicomwebDestination } from '../../src/delivery/settings.js';
import { deliverySettingsOf } from '../../src/delivery/config.js';
import { ConfigError } from '../../src/errors.js';
import { buildSet } from '../../src/measurements/parse.js';
import type { Approach } from '../../src/pipeline/approaches.js';
import { attach } from '../../src/pipeline/attach.js';
import type { PrivateDetails } from '../../src/pipeline/outcomes.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { freePort, orthancPlugin, type TestOrthanc } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

const SET = buildSet([
  { name: 'Right Kidney', value: '125 mL' },
  { name: 'Left Kidney', value: '132 mL' },
]);

const orthanc = useOrthanc();
const archive = useOrthanc(() => ({ Plugins: [orthancPlugin('libOrthancDicomWeb.so', 'orthanc-dicomweb')], DicomWeb: { Enable: true, Root: '/dicom-web/' } }));

function destination(extra: Partial<DicomwebDestination> = {}): DicomwebDestination {
  return { name: 'archive', url: `${archive.url}/dicom-web`, username: archive.username, password: archive.password, derived: false, timeoutMs: 30_000, ...extra };
}

function settings(destinations: DicomwebDestination[]): DeliverySettings {
  return { dicomweb: destinations, attempts: 2, retryBaseMs: 10 };
}

async function run(delivery: DeliverySettings, approaches: Approach[] = ['sr']) {
  const source = await uploadStudy(orthanc.client, ctStudy(2));
  return attach({ client: orthanc.client, settings: { srSeriesNumber: 9999, timeZone: 'UTC', delivery }, now: () => new Date() }, source.orthancId, SET, approaches);
}

/** The bytes of an instance in an Orthanc, found by SOP Instance UID. */
async function fileByUid(target: TestOrthanc, sopInstanceUid: string): Promise<Buffer> {
  const hit = (await target.client.lookup(sopInstanceUid)).find((r) => r.Type === 'Instance');
  if (!hit) throw new Error(`${sopInstanceUid} is not in ${target.url}`);
  return target.client.instanceFile(hit.ID);
}

describe('STOW-RS to an Orthanc with the DICOMweb plugin', () => {
  test('the SR and the derived series arrive byte for byte', async () => {
    const { outcomes } = await run(settings([destination({ derived: true })]), ['sr', 'private']);
    expect(outcomes.map((o) => o.approach)).toEqual(['sr', 'private', 'dicomweb']);
    const sr = outcomes[0]?.details as { sopInstanceUid: string };
    const derivedSeries = (outcomes[1]?.details as PrivateDetails).series.map((s) => s.orthancId);
    const derived = (await Promise.all(derivedSeries.map((id) => orthanc.client.seriesInstances(id)))).flat().map((i) => i.MainDicomTags['SOPInstanceUID'] ?? '');
    expect(derived).toHaveLength(2);
    for (const uid of [sr.sopInstanceUid, ...derived]) {
      const [sent, arrived] = await Promise.all([fileByUid(orthanc, uid), fileByUid(archive, uid)]);
      expect(arrived.equals(sent), `instance ${uid} differs`).toBe(true);
    }
    expect(outcomes[2]).toMatchObject({ approach: 'dicomweb', summary: '3 instance(s) stored at DICOMweb archive', details: { stored: [{ destination: 'archive', instances: 3, attempts: 1 }] } });
  }, 90_000);

  test('sending again is harmless: the archive already has the same instances', async () => {
    const first = await run(settings([destination()]));
    const sr = first.outcomes[0]?.details as { sopInstanceUid: string; orthancInstanceId: string };
    const again = await run(settings([destination()]));
    expect(again.outcomes.at(-1)?.approach).toBe('dicomweb');
    expect((await fileByUid(archive, sr.sopInstanceUid)).equals(await orthanc.client.instanceFile(sr.orthancInstanceId))).toBe(true);
  }, 90_000);

  test('wrong credentials fail at once (permanent), naming the archive and the answer', async () => {
    const error = await run(settings([destination({ password: 'wrong' })])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DeliveryError);
    const failure = (error as DeliveryError).failures[0];
    expect(failure).toMatchObject({ destination: `DICOMweb archive (${archive.url}/dicom-web)`, attempts: 1, permanent: true });
    expect(failure?.message).toContain('STOW-RS answered 401');
    expect((error as DeliveryError).kind).toBe('delivery-rejected');
  }, 90_000);

  test('an archive that is down is retried, then the study fails with a transient delivery error', async () => {
    const down = `http://127.0.0.1:${await freePort()}/dicom-web`;
    const error = await run(settings([destination({ name: 'down', url: down })])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DeliveryError);
    expect((error as DeliveryError).failures[0]).toMatchObject({ destination: `DICOMweb down (${down})`, attempts: 2, permanent: false });
    expect((error as DeliveryError).failures[0]?.message).toContain('ECONNREFUSED');
    expect((error as DeliveryError).kind).toBe('delivery');
  }, 90_000);

  test('an archive that answers 503 and then stores is served on the second attempt', async () => {
    // A real archive does not give a 503 on demand: a proxy in front of the real one fails the first request.
    let requests = 0;
    const target = new URL(archive.url);
    const proxy = createServer((request, response) => {
      requests++;
      const chunks: Buffer[] = [];
      request.on('data', (c: Buffer) => chunks.push(c));
      request.on('end', () => {
        if (requests === 1) {
          response.writeHead(503).end('busy');
          return;
        }
        fetch(`${target.origin}${request.url ?? ''}`, { method: 'POST', headers: request.headers as Record<string, string>, body: Buffer.concat(chunks) })
          .then(async (answer) => response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? '' }).end(Buffer.from(await answer.arrayBuffer())))
          .catch(() => response.writeHead(502).end());
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/dicom-web`;
      const { outcomes } = await run(settings([destination({ url })]));
      expect(outcomes.at(-1)).toMatchObject({ approach: 'dicomweb', details: { stored: [{ destination: 'archive', instances: 1, attempts: 2 }] } });
      expect(requests).toBe(2);
    } finally {
      proxy.close();
    }
  }, 90_000);
});

describe('KV_DICOMWEB', () => {
  test('reads a list of destinations, with defaults', () => {
    const parsed = deliverySettingsOf({ KV_DICOMWEB: '[{"name":"a","url":"https://pacs.example/dicom-web","token":"t"},{"name":"b","url":"http://b/dw","username":"u","password":"p","derived":true}]' });
    expect(parsed?.dicomweb).toEqual([
      { name: 'a', url: 'https://pacs.example/dicom-web', token: 't', derived: false, timeoutMs: 600_000 },
      { name: 'b', url: 'http://b/dw', username: 'u', password: 'p', derived: true, timeoutMs: 600_000 },
    ]);
  });

  test.each([
    ['not json', 'must be a JSON list of destinations'],
    ['[{"name":"a","url":"ftp://x/dw"}]', 'url must be http:// or https://'],
    ['[{"name":"a","url":"http://x/dw","username":"u"}]', 'username and password go together'],
    ['[{"name":"a","url":"http://x/dw","token":"t","username":"u","password":"secret"}]', 'not both'],
    ['[{"name":"a","url":"http://x/dw"},{"name":"a","url":"http://y/dw"}]', 'destination names must be unique'],
  ])('%s is refused: %s, and no secret is shown', (raw, message) => {
    let thrown: unknown;
    try {
      deliverySettingsOf({ KV_DICOMWEB: raw });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).message).toContain(message);
    expect((thrown as ConfigError).message).not.toContain('secret');
  });
});
