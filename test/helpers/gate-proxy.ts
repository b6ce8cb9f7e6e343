/**
 * An HTTP proxy in front of the test Orthanc that can hold chosen requests: a test sees a request
 * arrive and decides when (or whether) it goes on. It makes timing facts provable instead of
 * likely: two claims both in flight before either is answered, or a process killed at a known
 * point while it waits for Orthanc. Everything else passes through unchanged.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { OrthancClient } from '../../src/orthanc/client.js';

/** What a hold matches on. */
export interface ProxiedRequest {
  readonly method: string;
  /** Path and query, as the client sent them. */
  readonly path: string;
  /** The If-Match header, when the request had one (a compare-and-set). */
  readonly ifMatch?: string;
}

/** Requests held by one hold, waiting to be let through. */
export interface Hold {
  /** How many requests this hold has stopped so far. */
  readonly held: number;
  /** Resolves once `n` requests are held (all of them at once, none answered yet). */
  arrived(n: number, timeoutMs?: number): Promise<void>;
  /** Lets the held requests, and every later matching one, through to Orthanc. */
  release(): void;
}

/** A running proxy. */
export interface GateProxy {
  /** The proxy's base URL, to give a client instead of Orthanc's. */
  readonly url: string;
  /** Every request that reached the proxy so far, in order of arrival (to count round trips). */
  readonly requests: readonly ProxiedRequest[];
  /** Holds every request that matches, from now until release(). */
  hold(match: (request: ProxiedRequest) => boolean): Hold;
  /** Resolves once no request it let through is still waiting for Orthanc's answer. */
  settled(timeoutMs?: number): Promise<void>;
  /** Closes the proxy, dropping any request still held (its client sees the connection go). */
  close(): Promise<void>;
}

/** Starts a proxy on a free loopback port forwarding to `target` (http://127.0.0.1:port). */
export async function startGateProxy(target: string): Promise<GateProxy> {
  const to = new URL(target);
  const holds: { match: (r: ProxiedRequest) => boolean; waiting: (() => void)[]; released: boolean; count: number; notify: () => void }[] = [];
  const sockets = new Set<Socket>();
  /** Requests let through and not yet answered whole, by method and path (for a timeout's message). */
  const pending = new Set<string>();
  const requests: ProxiedRequest[] = [];

  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse): void => {
    const key = `${req.method ?? ''} ${req.url ?? ''} #${Math.random().toString(36).slice(2, 8)}`;
    pending.add(key);
    const finish = (): void => void pending.delete(key);
    const out = httpRequest(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } },
      (answer) => {
        answer.on('end', finish);
        answer.on('error', finish);
        // Orthanc has answered, so the request has landed; when the client is gone (killed) the pipe
        // stops reading (a write to a closed response pauses the answer), so unpipe and drain the
        // rest here or the request never counts as finished. The client may have gone before
        // Orthanc answered: then its 'close' was emitted already.
        const drain = (): void => {
          answer.unpipe(res);
          answer.resume();
        };
        if (res.destroyed) return drain();
        res.on('close', drain);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => {
      finish();
      res.destroy();
    });
    out.end(body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const ifMatch = req.headers['if-match'];
      const seen: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', ...(ifMatch !== undefined ? { ifMatch } : {}) };
      requests.push(seen);
      const hold = holds.find((h) => !h.released && h.match(seen));
      if (!hold) return forward(req, body, res);
      hold.count++;
      hold.waiting.push(() => forward(req, body, res));
      hold.notify();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    hold(match) {
      const listeners = new Set<() => void>();
      const entry = { match, waiting: [] as (() => void)[], released: false, count: 0, notify: () => listeners.forEach((l) => l()) };
      holds.push(entry);
      return {
        get held() {
          return entry.count;
        },
        arrived: (n, timeoutMs = 30_000) =>
          new Promise<void>((resolve, reject) => {
            const check = (): void => {
              if (entry.count < n) return;
              clearTimeout(timer);
              listeners.delete(check);
              resolve();
            };
            const timer = setTimeout(() => {
              listeners.delete(check);
              reject(new Error(`only ${entry.count} of ${n} held requests arrived within ${timeoutMs} ms`));
            }, timeoutMs);
            listeners.add(check);
            check();
          }),
        release() {
          entry.released = true;
          for (const go of entry.waiting.splice(0)) go();
        },
      };
    },
    settled: async (timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (pending.size > 0) {
        if (Date.now() > deadline) throw new Error(`${pending.size} request(s) through the proxy still unanswered after ${timeoutMs} ms: ${[...pending].join(', ')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A client of the test Orthanc whose requests go through `proxy`, without retries (each request is seen once). */
export function clientThrough(proxy: GateProxy, orthanc: { readonly username: string; readonly password: string }): OrthancClient {
  return new OrthancClient({ url: proxy.url, username: orthanc.username, password: orthanc.password, retries: 0 });
}
