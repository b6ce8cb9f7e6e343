// Faults a real Orthanc cannot be made to produce on demand: a 503 in the middle (nock), and a
// dropped connection (a real server that closes the socket, as nock's replyWithError hangs got).
import { createServer, type Server } from 'node:http';
import { inspect } from 'node:util';
import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OrthancHttpError, OrthancUnreachableError } from '../../src/errors.js';
import { OrthancClient } from '../../src/orthanc/client.js';

const BASE = 'http://orthanc.test:8042';
const client = new OrthancClient({ url: BASE, username: 'u', password: 'secret-pw', retries: 3, retryBaseDelayMs: 5, timeoutMs: 2000 });

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  expect(nock.isDone()).toBe(true);
  nock.cleanAll();
});

describe('retries', () => {
  it('retries an idempotent read after 503s, then succeeds', async () => {
    nock(BASE)
      .get('/studies/abc')
      .times(2)
      .reply(503, 'busy')
      .get('/studies/abc')
      .basicAuth({ user: 'u', pass: 'secret-pw' })
      .reply(200, { ID: 'abc', MainDicomTags: {}, PatientMainDicomTags: {}, Series: [], ParentPatient: 'p' });
    expect((await client.study('abc')).ID).toBe('abc');
  });

  it('gives up after the configured retries with the last cause', async () => {
    nock(BASE).get('/system').times(4).reply(503, { HttpError: 'Service Unavailable', Details: 'database is locked' });
    const error = await client.system().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OrthancHttpError);
    expect((error as Error).message).toBe('503 Service Unavailable from Orthanc: database is locked');
  });

  it('does not retry a permanent refusal: a 400 fails at the first attempt with its own message', async () => {
    // Only one reply is set up: a second attempt would find no interceptor and fail differently.
    nock(BASE).get('/studies/abc').reply(400, { HttpError: 'Bad Request', Details: 'Bad file format' });
    const error = await client.study('abc').catch((e: unknown) => e);
    expect((error as Error).message).toBe('400 Bad Request from Orthanc: Bad file format');
  });

  it('does not retry a compare-and-set write (a retry could overwrite a newer revision)', async () => {
    nock(BASE).put('/studies/abc/metadata/KidneyVolumesStatus').matchHeader('if-match', '3').reply(503, 'busy');
    await expect(client.putStudyMetadata('abc', 'KidneyVolumesStatus', '{}', '3')).rejects.toBeInstanceOf(OrthancHttpError);
  });

  it('names a timeout', async () => {
    const slow = new OrthancClient({ url: BASE, retries: 0, timeoutMs: 100 });
    nock(BASE).get('/system').delay(500).reply(200, {});
    await expect(slow.system()).rejects.toThrow('cannot connect to Orthanc at http://orthanc.test:8042 (no answer within 100 ms)');
  });
});

/** A real HTTP server that drops the first `drops` connections, then answers 200 with a body. */
async function droppingServer(drops: number, body: unknown): Promise<{ url: string; server: Server; hits: () => number }> {
  let hits = 0;
  const server = createServer((request, response) => {
    hits++;
    if (hits <= drops) {
      request.socket.destroy();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, server, hits: () => hits };
}

describe('dropped connections', () => {
  it('retries a read whose connection was dropped, then succeeds', async () => {
    nock.enableNetConnect('127.0.0.1');
    const { url, server, hits } = await droppingServer(2, { Version: '1.10.1' });
    try {
      const c = new OrthancClient({ url, retries: 3, retryBaseDelayMs: 5 });
      expect((await c.system()).Version).toBe('1.10.1');
      expect(hits()).toBe(3);
    } finally {
      server.close();
    }
  });

  it('reports a connection dropped on every try as unreachable, without credentials', async () => {
    nock.enableNetConnect('127.0.0.1');
    const { url, server, hits } = await droppingServer(100, {});
    try {
      const c = new OrthancClient({ url, username: 'u', password: 'secret-pw', retries: 2, retryBaseDelayMs: 5 });
      const error = await c.system().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OrthancUnreachableError);
      expect((error as Error).message).toBe(`cannot connect to Orthanc at ${url} (connection reset)`);
      // Everything the error holds, hidden properties and causes included: a got error kept as a
      // cause would carry the request options, the password and its Basic header with them.
      const everything = inspect(error, { depth: 10, showHidden: true });
      expect(everything).toContain('connection reset');
      expect(everything).not.toContain('secret-pw');
      expect(everything).not.toContain(Buffer.from('u:secret-pw').toString('base64'));
      expect(hits()).toBe(3);
    } finally {
      server.close();
    }
  });
});
