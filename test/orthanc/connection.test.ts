// Keep-alive and resets (issue 17): the Orthanc client reuses its sockets to a real Orthanc, closes
// idle ones before Orthanc does, and after a reset sends a request again only when that is safe.
// Resets come from a real server that closes real sockets (no mocks).
import { createServer, connect, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { OrthancUnreachableError } from '../../src/errors.js';
import { OrthancClient } from '../../src/orthanc/client.js';
import { DEFAULT_IDLE_MS } from '../../src/orthanc/connection.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

describe('keep-alive against a real Orthanc', () => {
  const orthanc = useOrthanc();

  /** A TCP relay in front of Orthanc that counts the connections the client opens. */
  async function countingRelay(): Promise<{ url: string; connections: () => number; close: () => void }> {
    const target = new URL(orthanc.url);
    let connections = 0;
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      connections++;
      const upstream = connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    const url = await listen(server);
    return { url, connections: () => connections, close: () => (server.close(), sockets.forEach((s) => s.destroy())) };
  }

  it('sends sequential calls over one connection, and opens a fresh one after Orthanc would have closed it', async () => {
    const relay = await countingRelay();
    try {
      const client = new OrthancClient({ url: relay.url, username: orthanc.username, password: orthanc.password, retries: 0 });
      for (let i = 0; i < 10; i++) await client.system();
      // Node's own agent reads Orthanc's "Keep-Alive: timeout=1" as "never reuse": 10 connections.
      expect(relay.connections()).toBe(1);
      // Past Orthanc's 1 s KeepAliveTimeout: our idle timeout (below it) closed the socket first, so no reset.
      await new Promise((r) => setTimeout(r, 1200));
      await client.system();
      expect(relay.connections()).toBe(2);
      expect(DEFAULT_IDLE_MS).toBeLessThan(1000);
    } finally {
      relay.close();
    }
  });

  /**
   * A TCP relay in front of Orthanc that lets the first metadata PUT reach Orthanc and, once
   * Orthanc has answered it (so the write has landed), resets the client's socket instead of
   * passing the answer on: what a connection lost at that instant looks like to the client.
   */
  async function answerLosingRelay(): Promise<{ url: string; puts: () => number; close: () => void }> {
    const target = new URL(orthanc.url);
    let puts = 0;
    let lost = false;
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
      }
      let dropAnswer = false;
      client.on('data', (chunk: Buffer) => {
        if (chunk.subarray(0, 4).toString('latin1') === 'PUT ') {
          puts++;
          if (!lost) dropAnswer = lost = true;
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => (dropAnswer ? client.resetAndDestroy() : client.write(chunk)));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    const url = await listen(server);
    return { url, puts: () => puts, close: () => (server.close(), sockets.forEach((s) => s.destroy())) };
  }

  it('a compare-and-set write whose answer was lost, sent again and refused with 409, is known as our own landed write', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await orthanc.client.putStudyMetadata(study.orthancId, 'KidneyVolumesStatus', '{"first":1}');
    const etag = (await orthanc.client.studyMetadata(study.orthancId, 'KidneyVolumesStatus'))?.etag;
    const relay = await answerLosingRelay();
    try {
      const client = new OrthancClient({ url: relay.url, username: orthanc.username, password: orthanc.password, retries: 2, retryBaseDelayMs: 5 });
      await client.system();
      // Orthanc stored it, the answer was lost, the repeat met the new revision (409): still ours.
      expect(await client.replaceStudyMetadata(study.orthancId, 'KidneyVolumesStatus', '{"second":2}', etag)).toBe(true);
      expect(relay.puts()).toBe(2);
      expect((await orthanc.client.studyMetadata(study.orthancId, 'KidneyVolumesStatus'))?.value).toBe('{"second":2}');
      // A 409 to a first send stays a lost race, over another value and over an equal one alike.
      expect(await client.replaceStudyMetadata(study.orthancId, 'KidneyVolumesStatus', '{"third":3}', etag)).toBe(false);
      expect(await client.replaceStudyMetadata(study.orthancId, 'KidneyVolumesStatus', '{"second":2}', etag)).toBe(false);
      expect(relay.puts()).toBe(4);
    } finally {
      relay.close();
    }
  });
});

/** What the reset server saw: complete requests by request line, and connections. */
interface Seen {
  readonly requests: string[];
  connections: number;
}

/**
 * A minimal HTTP/1.1 server on a raw socket. The first request of a connection is answered with
 * keep-alive; on a reused connection it reads the whole request (so it may have acted on it) and
 * then resets the socket, as a server closing an idle connection at that instant does. With
 * `resetOnHeaders`, it resets the first connection as soon as the request's headers arrived,
 * before the body: that request never reached the server whole.
 */
async function resetServer(options: { resetOnHeaders?: boolean } = {}): Promise<{ url: string; seen: Seen; close: () => void }> {
  const seen: Seen = { requests: [], connections: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    const connection = ++seen.connections;
    sockets.add(socket);
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    let answered = 0;
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString('latin1');
        if (options.resetOnHeaders === true && connection === 1) return void socket.resetAndDestroy();
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffer.length < end + 4 + length) return;
        buffer = buffer.subarray(end + 4 + length);
        seen.requests.push(head.split('\r\n')[0] ?? '');
        if (answered++ > 0) return void socket.resetAndDestroy();
        const body = '{"ID":"copy","Path":"/series/copy","Version":"1.10.1"}';
        socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n${body}`);
      }
    });
  });
  const url = await listen(server);
  return { url, seen, close: () => (server.close(), sockets.forEach((s) => s.destroy())) };
}

describe('a reset on a reused socket', () => {
  const clientOf = (url: string): OrthancClient => new OrthancClient({ url, retries: 2, retryBaseDelayMs: 5, keepAliveIdleMs: 5000 });

  it('an idempotent read is sent again and succeeds', async () => {
    const { url, seen, close } = await resetServer();
    try {
      const client = clientOf(url);
      await client.system();
      expect((await client.system()).Version).toBe('1.10.1');
      expect(seen.requests).toEqual(['GET /system HTTP/1.1', 'GET /system HTTP/1.1', 'GET /system HTTP/1.1']);
      expect(seen.connections).toBe(2);
    } finally {
      close();
    }
  });

  it('a compare-and-set metadata write is sent again (a repeat that had landed would answer 409)', async () => {
    const { url, seen, close } = await resetServer();
    try {
      const client = clientOf(url);
      await client.system();
      await client.putStudyMetadata('s1', 'KidneyVolumes', '{}', '7');
      expect(seen.requests.filter((r) => r.startsWith('PUT'))).toEqual(['PUT /studies/s1/metadata/KidneyVolumes HTTP/1.1', 'PUT /studies/s1/metadata/KidneyVolumes HTTP/1.1']);
    } finally {
      close();
    }
  });

  it('a request that may have been acted on and is not safe to repeat (modify) fails with the reset, sent once', async () => {
    const { url, seen, close } = await resetServer();
    try {
      const client = clientOf(url);
      await client.system();
      const error = await client.modifySeries('s1', { Replace: { SeriesDescription: 'x' } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OrthancUnreachableError);
      expect((error as Error).message).toMatch(/connection reset|connection closed/);
      expect(seen.requests.filter((r) => r.startsWith('POST'))).toEqual(['POST /series/s1/modify HTTP/1.1']);
    } finally {
      close();
    }
  });

  it('a request that never reached the server whole is sent again, even one not safe to repeat', async () => {
    const { url, seen, close } = await resetServer({ resetOnHeaders: true });
    try {
      const client = clientOf(url);
      // A body large enough that the reset comes before the client has written it all.
      const copy = await client.modifySeries('s1', { Replace: { SeriesDescription: 'x'.repeat(8 << 20) } });
      expect(copy.ID).toBe('copy');
      expect(seen.connections).toBe(2);
      expect(seen.requests).toEqual(['POST /series/s1/modify HTTP/1.1']);
    } finally {
      close();
    }
  });
});
