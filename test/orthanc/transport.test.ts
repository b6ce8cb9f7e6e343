// The Orthanc client's own HTTP transport (src/orthanc/transport.ts, issue 17): what it sends is
// checked against a real Orthanc (query strings, credentials with awkward characters); what only a
// misbehaving peer produces (a redirect, a compressed answer, a body cut short, an answer that
// trickles past the timeout) comes from real local servers.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { EXIT_CODES, exitCodeFor, failureClass, OrthancCorruptAnswerError, OrthancHttpError, OrthancUnreachableError } from '../../src/errors.js';
import { OrthancClient } from '../../src/orthanc/client.js';
import { searchOf } from '../../src/orthanc/transport.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

/** A second Orthanc user whose name and password need care in a Basic header (non-ASCII, a colon, a space). */
const AWKWARD = { username: 'kv-ü', password: 'pä:ss wörd' };

describe('against a real Orthanc', () => {
  const orthanc = useOrthanc({ RegisteredUsers: { kidney: 'kidney-volumes', [AWKWARD.username]: AWKWARD.password } });

  it('sends the query strings Orthanc reads: expand, since/limit, simplify, metadata expand, last', async () => {
    const client = orthanc.client;
    const study = await uploadStudy(client, ctStudy(2));
    await uploadStudy(client, ctStudy(1));
    await client.putStudyMetadata(study.orthancId, 'KidneyVolumesStatus', '{"state":"done"}');

    // expand=true: objects, not IDs; limit=1: one of the two studies.
    const expanded = await client.studies(10);
    expect(expanded.map((s) => s.ID)).toContain(study.orthancId);
    expect(expanded.every((s) => typeof s.MainDicomTags === 'object')).toBe(true);
    expect(await client.studyIdsPage(0, 1)).toHaveLength(1);
    expect(await client.studyIdsPage(0, 10)).toHaveLength(2);

    // simplify=: keywords, not "0020,000e".
    const [series] = await client.studySeries(study.orthancId);
    const shared = await client.seriesSharedTags(series!.ID);
    expect(shared['SeriesInstanceUID']).toBe(series!.MainDicomTags['SeriesInstanceUID']);
    expect(Object.keys(shared).some((k) => /^[0-9a-f]{4},[0-9a-f]{4}$/.test(k))).toBe(false);

    // expand= on metadata: names with values, not a list of names.
    expect((await client.studyMetadataAll(study.orthancId))['KidneyVolumesStatus']).toBe('{"state":"done"}');

    // last=: the head of the log, which a page from 0 ends at too.
    const last = await client.lastChangeSeq();
    expect(Number.isInteger(last)).toBe(true);
    let page = await client.changes(0, 1000);
    while (!page.Done) page = await client.changes(page.Last, 1000);
    expect(last).toBe(page.Last);
  });

  it('authenticates a user whose name and password hold non-ASCII characters, a colon and a space', async () => {
    const client = new OrthancClient({ url: orthanc.url, ...AWKWARD, retries: 0 });
    expect((await client.system()).Version).toBe(orthanc.system.Version);
    const wrong = await new OrthancClient({ url: orthanc.url, username: AWKWARD.username, password: 'pä:ss', retries: 0 }).system().catch((e: unknown) => e);
    expect((wrong as OrthancHttpError).status).toBe(401);
  });
});

/** A local HTTP server with the given handler; answers its URL and the requests it saw. */
async function serve(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<{ url: string; seen: string[]; close: () => void }> {
  const seen: string[] = [];
  const server = createHttpServer((request, response) => {
    seen.push(`${request.method} ${request.url}`);
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => (server.closeAllConnections(), server.close()) };
}

describe('answers only a misbehaving peer gives', () => {
  it('does not follow a redirect: a permanent error naming where it points, without its credentials', async () => {
    const { url, seen, close } = await serve((_, response) => response.writeHead(301, { location: 'https://admin:secret-pw@orthanc.example:8043/system' }).end());
    try {
      const client = new OrthancClient({ url, retries: 3, retryBaseDelayMs: 5 });
      const error = await client.system().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OrthancHttpError);
      expect((error as OrthancHttpError).status).toBe(301);
      expect((error as Error).message).toBe(
        '301 Moved Permanently from Orthanc: GET /system is redirected to https://orthanc.example:8043/system; set ORTHANC_URL to the address Orthanc answers on (redirects are not followed)',
      );
      expect(failureClass(error)).toBe('permanent');
      expect(seen).toEqual(['GET /system']);
    } finally {
      close();
    }
  });

  it('decodes an answer a proxy compressed although identity was asked for', async () => {
    const { url, close } = await serve((request, response) => {
      expect(request.headers['accept-encoding']).toBe('identity');
      response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync(JSON.stringify({ Version: '1.10.1' })));
    });
    try {
      expect((await new OrthancClient({ url, retries: 0 }).system()).Version).toBe('1.10.1');
    } finally {
      close();
    }
  });

  it('a body cut short is a connection reset, retried as a fresh attempt (not resent at once)', async () => {
    const { url, seen, close } = await serve((request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      response.write('{"Version":');
      setTimeout(() => request.socket.destroy(), 20);
    });
    try {
      const error = await new OrthancClient({ url, retries: 1, retryBaseDelayMs: 5 }).system().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OrthancUnreachableError);
      expect((error as Error).message).toBe(`cannot connect to Orthanc at ${url} (connection reset)`);
      expect(seen).toEqual(['GET /system', 'GET /system']);
    } finally {
      close();
    }
  });

  it('a compressed body that does not decompress is a permanent fault naming the cause, not retried', async () => {
    const { url, seen, close } = await serve((_, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end('{"Version":"1.10.1"} is not gzip');
    });
    try {
      const error = await new OrthancClient({ url, retries: 3, retryBaseDelayMs: 5 }).system().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OrthancCorruptAnswerError);
      expect((error as Error).message).toBe(
        `the server's answer to GET ${url}/system (200 OK) could not be decompressed: gzip data is corrupt (incorrect header check); ` +
          'it came with Content-Encoding: gzip although the sidecar asks for identity, so something between it and Orthanc (a proxy?) compresses answers wrongly',
      );
      expect(failureClass(error)).toBe('permanent');
      expect(exitCodeFor(error)).toBe(EXIT_CODES['orthanc-http']);
      expect(seen).toEqual(['GET /system']);
    } finally {
      close();
    }
  });

  it('a corrupt brotli body on an error status is permanent too: the same bytes come back on every attempt', async () => {
    const { url, seen, close } = await serve((_, response) => {
      response.writeHead(503, { 'content-encoding': 'br' }).end(brotliCompressSync('busy').subarray(1));
    });
    try {
      const error = await new OrthancClient({ url, retries: 3, retryBaseDelayMs: 5 }).system().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OrthancCorruptAnswerError);
      expect((error as Error).message).toMatch(new RegExp(`^the server's answer to GET ${url}/system \\(503 Service Unavailable\\) could not be decompressed: br data is corrupt \\(`));
      expect(seen).toEqual(['GET /system']);
    } finally {
      close();
    }
  });

  it('a compressed body cut short is a connection reset, retried, whether its length was announced or not', async () => {
    const gzipped = gzipSync(JSON.stringify({ Version: '1.10.1', Name: 'x'.repeat(200) }));
    // Announced: Content-Length, then the connection closes mid-body.
    const announced = await serve((request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(gzipped.length) });
      response.write(gzipped.subarray(0, 20));
      setTimeout(() => request.socket.destroy(), 20);
    });
    // Not announced: the body ends where the connection closes (HTTP/1.1 allows it), mid-stream.
    let hits = 0;
    const raw = createNetServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => {
        hits++;
        socket.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n'), gzipped.subarray(0, 20)]));
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const rawUrl = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
    try {
      for (const [url, count] of [
        [announced.url, () => announced.seen.length],
        [rawUrl, () => hits],
      ] as const) {
        const error = await new OrthancClient({ url, retries: 1, retryBaseDelayMs: 5 }).system().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(OrthancUnreachableError);
        expect((error as Error).message).toBe(`cannot connect to Orthanc at ${url} (connection reset)`);
        expect(failureClass(error)).toBe('transient');
        expect(count()).toBe(2);
      }
    } finally {
      announced.close();
      raw.close();
    }
  });

  it('the timeout bounds the whole exchange: an answer that trickles past it fails; a per-call timeout overrides it', async () => {
    const { url, close } = await serve((request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      // One byte of whitespace every 40 ms for 480 ms, then the JSON: never idle, but slow.
      let ticks = 0;
      const timer = setInterval(() => {
        if (++ticks < 12) return void response.write(' ');
        clearInterval(timer);
        response.end(request.url === '/system' ? '{"Version":"1.10.1"}' : '{"Description":"Success"}');
      }, 40);
      response.on('close', () => clearInterval(timer));
    });
    try {
      const client = new OrthancClient({ url, retries: 0, timeoutMs: 200 });
      await expect(client.system()).rejects.toThrow(`cannot connect to Orthanc at ${url} (no answer within 200 ms)`);
      expect((await client.storeToModality('PACS', ['a'], 5000)).Description).toBe('Success');
    } finally {
      close();
    }
  });
});

describe('searchOf', () => {
  it('encodes as got did: empty values as "name=", booleans and numbers as text, nothing for no parameters', () => {
    expect(searchOf(undefined)).toBe('');
    expect(searchOf({})).toBe('');
    expect(searchOf({ simplify: '' })).toBe('?simplify=');
    expect(searchOf({ expand: true, since: 0, limit: 100 })).toBe('?expand=true&since=0&limit=100');
    expect(searchOf({ q: 'a b&c=é' })).toBe('?q=a+b%26c%3D%C3%A9');
  });
});
