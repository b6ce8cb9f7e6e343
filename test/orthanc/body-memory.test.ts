/**
 * Bodies read into memory the caller gives (transport.ts BodyMemory, issue 17: the private step
 * reads its downloads into a BufferPool). Property: whatever the order of downloads and of memory
 * given back, each download answers its own bytes, and no body still held changes afterwards (the
 * pool never hands out memory somebody still reads); memory handed out for an answer that fails
 * is not given back. Real local servers give the answers. Fixed seed, bounded runs; KV_FUZZ_RUNS searches longer.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrthancUnreachableError } from '../../src/errors.js';
import { OrthancClient } from '../../src/orthanc/client.js';
import { BufferPool } from '../../src/pipeline/buffer-pool.js';

const RUNS = Number(process.env['KV_FUZZ_RUNS'] ?? 25);
const PARAMS = { seed: 20261130, numRuns: RUNS, endOnFailure: true } as const;

/** How the server sends a body: its length announced, chunked, gzipped, or cut short after its length was announced. */
type Mode = 'length' | 'chunked' | 'gzip' | 'cut';

/** The bytes of body `seed` of `size` bytes: different for every seed, so that one body never passes for another. */
function bodyOf(seed: number, size: number): Buffer {
  const body = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) body[i] = (seed * 31 + i * 7 + (i >> 8)) & 0xff;
  return body;
}

let server: Server;
let url = '';
beforeAll(async () => {
  // GET /instances/<seed>-<size>-<mode>/file
  server = createServer((request, response) => {
    const [seed, size, mode] = (request.url ?? '').split('/')[2]?.split('-') ?? [];
    const body = bodyOf(Number(seed), Number(size));
    if (mode === 'chunked') {
      response.writeHead(200, { 'content-type': 'application/dicom' });
      response.write(body.subarray(0, body.length >> 1));
      response.end(body.subarray(body.length >> 1));
    } else if (mode === 'gzip') {
      const gzipped = gzipSync(body);
      response.writeHead(200, { 'content-type': 'application/dicom', 'content-encoding': 'gzip', 'content-length': gzipped.length }).end(gzipped);
    } else if (mode === 'cut') {
      response.writeHead(200, { 'content-type': 'application/dicom', 'content-length': body.length });
      response.write(body.subarray(0, body.length >> 1));
      setTimeout(() => request.socket.destroy(), 5);
    } else {
      response.writeHead(200, { 'content-type': 'application/dicom', 'content-length': body.length }).end(body);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

type Op = { readonly kind: 'download'; readonly size: number; readonly mode: Mode } | { readonly kind: 'give'; readonly index: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('download' as const), size: fc.oneof(fc.integer({ min: 1, max: 2_000 }), fc.integer({ min: 60_000, max: 140_000 })), mode: fc.constantFrom<Mode>('length', 'length', 'chunked', 'gzip', 'cut') }),
  fc.record({ kind: fc.constant('give' as const), index: fc.nat() }),
);

describe('bodies read into pooled memory', () => {
  it('answer their own bytes, never change while held, and memory of a failed answer is not given back', async () => {
    const client = new OrthancClient({ url, retries: 0 });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), fc.boolean(), async (ops, concurrent) => {
        const pool = new BufferPool(512 * 1024);
        // Idle memory full of old bytes, as the pool holds after earlier images.
        for (const size of [70_000, 140_000, 2_000]) pool.give(pool.take(size).fill(0xa5));
        const lent = new Set<ArrayBufferLike>();
        const take = (size: number): Buffer => {
          const memory = pool.take(size);
          lent.add(memory.buffer);
          return memory;
        };
        const held: { body: Buffer; expected: Buffer }[] = [];
        let seed = 0;
        const download = async (size: number, mode: Mode): Promise<void> => {
          const expected = bodyOf(++seed, size);
          const keptBefore = pool.kept;
          const outcome = await client.instanceFile(`${seed}-${size}-${mode}`, take).catch((e: unknown) => e);
          if (mode === 'cut') {
            expect(outcome).toBeInstanceOf(OrthancUnreachableError);
            // What was handed out for it stays lent: nothing went back to the pool.
            expect(pool.kept).toBeLessThanOrEqual(keptBefore);
            return;
          }
          const body = outcome as Buffer;
          expect(body.equals(expected)).toBe(true);
          // Only an announced, uncompressed body is read into the pool's memory.
          expect(lent.has(body.buffer), mode).toBe(mode === 'length');
          held.push({ body, expected });
        };
        for (const step of ops) {
          if (step.kind === 'give') {
            // Given back only when nothing reads it any more: it leaves the list of bodies held.
            const [given] = held.splice(step.index % Math.max(1, held.length), 1);
            if (given) pool.give(given.body);
          } else if (concurrent) {
            // Two downloads at once, both from the same pool.
            await Promise.all([download(step.size, step.mode), download(step.size, 'length')]);
          } else {
            await download(step.size, step.mode);
          }
          for (const { body, expected } of held) expect(body.equals(expected)).toBe(true);
        }
      }),
      PARAMS,
    );
  }, 120_000);

  it('a body larger than the memory offered, or declined, gets memory of its own', async () => {
    const client = new OrthancClient({ url, retries: 0 });
    const pool = new BufferPool();
    const declined = await client.instanceFile('7-5000-length', (size) => (size <= 4000 ? pool.take(size) : undefined));
    expect(declined.equals(bodyOf(7, 5000))).toBe(true);
    const wrongSize = await client.instanceFile('8-5000-length', () => Buffer.alloc(10));
    expect(wrongSize.equals(bodyOf(8, 5000))).toBe(true);
  });
});
