/**
 * What the transport takes from the peer, fuzzed (issue 17): whatever bytes come back on the socket,
 * the client settles with a typed error (or an answer) within its timeout; it never hangs, crashes
 * or throws something untyped. And the body decoding round-trips every encoding a proxy may use.
 * Fixed seed, bounded runs; KV_FUZZ_RUNS searches longer.
 */
import { createServer, type Server } from 'node:net';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, OrthancCorruptAnswerError, OrthancHttpError, OrthancUnreachableError } from '../../src/errors.js';
import { OrthancClient } from '../../src/orthanc/client.js';
import { decoded, searchOf } from '../../src/orthanc/transport.js';
import { BufferPool } from '../../src/pipeline/buffer-pool.js';

const RUNS = Number(process.env['KV_FUZZ_RUNS'] ?? 40);
const PARAMS = { seed: 20261130, numRuns: RUNS, endOnFailure: true } as const;

/** A server that answers every connection with the bytes of `answer` (then closes, or stays silent). */
let answer: { bytes: Buffer; close: boolean } = { bytes: Buffer.alloc(0), close: true };
let server: Server;
let url = '';
beforeAll(async () => {
  server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      const { bytes, close } = answer;
      socket.write(bytes);
      if (close) socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(() => void server.close());

/** Answers that look like HTTP, nearly: a status line, headers (some about length and encoding) and a body. */
const nearHttp = fc
  .record({
    status: fc.oneof(fc.constantFrom(200, 204, 301, 404, 409, 500), fc.integer({ min: 0, max: 1000 })),
    headers: fc.array(
      fc.oneof(
        fc.constantFrom('Content-Length: 0', 'Content-Length: 5', 'Content-Length: 99999', 'Transfer-Encoding: chunked', 'Content-Encoding: gzip', 'Content-Encoding: br', 'Content-Encoding: deflate', 'Location: /x', 'Connection: close', 'Keep-Alive: timeout=0'),
        fc.string({ maxLength: 40 }),
      ),
      { maxLength: 5 },
    ),
    body: fc.oneof(fc.constant('{"Version":"1.10.1"}'), fc.string({ maxLength: 60 }), fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b).toString('latin1'))),
    close: fc.boolean(),
  })
  .map(({ status, headers, body, close }) => ({ bytes: Buffer.from(`HTTP/1.1 ${status} X\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`, 'latin1'), close }));

describe('whatever comes back', () => {
  it('settles with an answer or a typed error, within the timeout', async () => {
    const client = new OrthancClient({ url, retries: 0, timeoutMs: 300 });
    await fc.assert(
      fc.asyncProperty(fc.oneof(nearHttp, fc.record({ bytes: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), close: fc.boolean() })), async (reply) => {
        answer = reply;
        const started = Date.now();
        const outcome = await client.system().then(
          () => 'answer',
          (error: unknown) => error,
        );
        if (outcome !== 'answer') expect(outcome instanceof OrthancUnreachableError || outcome instanceof OrthancHttpError || outcome instanceof OrthancCorruptAnswerError || outcome instanceof SyntaxError).toBe(true);
        // A body that is not JSON is a SyntaxError from JSON.parse, as with got; nothing else escapes.
        expect(Date.now() - started).toBeLessThan(2000);
      }),
      PARAMS,
    );
  }, 120_000);
});

describe('whatever comes back, read into pooled memory', () => {
  it('settles with a body or a typed error, within the timeout', async () => {
    const client = new OrthancClient({ url, retries: 0, timeoutMs: 300 });
    const pool = new BufferPool(256 * 1024);
    await fc.assert(
      fc.asyncProperty(nearHttp, async (reply) => {
        answer = reply;
        const started = Date.now();
        const outcome = await client.instanceFile('x', pool.take).then(
          (body) => body,
          (error: unknown) => error,
        );
        if (!(outcome instanceof Buffer)) expect(outcome instanceof OrthancUnreachableError || outcome instanceof OrthancHttpError || outcome instanceof OrthancCorruptAnswerError || outcome instanceof NotFoundError).toBe(true);
        else pool.give(outcome);
        expect(Date.now() - started).toBeLessThan(2000);
      }),
      PARAMS,
    );
  }, 120_000);
});

describe('decoded', () => {
  it('gives back the bytes under every encoding a proxy may add', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (array) => {
        const body = Buffer.from(array);
        expect(decoded(undefined, body)).toEqual(body);
        expect(decoded('identity', body)).toEqual(body);
        expect(decoded('gzip', gzipSync(body))).toEqual(body);
        expect(decoded('deflate', deflateSync(body))).toEqual(body);
        expect(decoded('deflate', deflateRawSync(body))).toEqual(body);
        expect(decoded('br', brotliCompressSync(body))).toEqual(body);
      }),
      PARAMS,
    );
  });
});

describe('searchOf', () => {
  it('round-trips through URLSearchParams, values as text', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean())), (params) => {
        const search = searchOf(params);
        const back = Object.fromEntries(new URLSearchParams(search));
        expect(back).toEqual(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])));
        expect(search === '').toBe(Object.keys(params).length === 0);
      }),
      PARAMS,
    );
  });
});
