/**
 * HTTP/1.1 to Orthanc on `node:http` / `node:https` (issue 17): one request, its whole answer as
 * bytes, and failures that say how far the request got. It replaced got for Orthanc, which cost
 * about 4x the CPU per request (0.86 ms against 0.20 ms for a GET /system on a keep-alive socket)
 * and most of the CLI's module loading; got stays for the deliveries to other servers.
 *
 * Redirects are not followed: Orthanc's REST API never redirects, so a 3xx comes from something
 * in front of it (a proxy moving http:// to https://, a wrong path) and is reported with its
 * Location, as a permanent fault, instead of replaying bodies and credentials to another address.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { urlToHttpOptions } from 'node:url';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

/** Where and how every request of one transport goes. */
export interface TransportOptions {
  /** Orthanc's base URL without credentials and without a trailing slash; paths are appended after a "/". */
  readonly baseUrl: string;
  /** The keep-alive agents of connection.ts (orthancAgents), one per protocol. */
  readonly agents: { readonly http: http.Agent; readonly https: https.Agent };
  readonly username?: string;
  readonly password?: string;
  /** The whole exchange (connect, send, answer read to its end) must finish within this. */
  readonly timeoutMs: number;
  /** PEM CA certificates, client certificate and key for https. */
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** One request; `path` is relative to the base URL (no leading slash). */
export interface TransportRequest {
  readonly method: string;
  readonly path: string;
  readonly searchParams?: Readonly<Record<string, string | number | boolean>>;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | string;
  /** Sent as JSON (content-type application/json unless a header says otherwise). */
  readonly json?: unknown;
  /** Overrides the transport's timeout for this request. */
  readonly timeoutMs?: number;
  /** Memory for a 2xx body: see BodyMemory. */
  readonly into?: BodyMemory;
}

/**
 * Memory for a 2xx answer whose length is announced and that is not compressed: the body is read
 * into it, instead of into chunks joined in memory of its own (a buffer pool's take, issue 17).
 * Answers undefined to decline a size (the body then gets memory of its own, as without it); memory
 * of another size than asked is not used.
 * Memory handed out for an answer that then fails is not used by anybody afterwards.
 */
export type BodyMemory = (size: number) => Buffer | undefined;

/** A 2xx answer, read to its end. */
export interface TransportResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body as sent (decoded if a proxy compressed it despite our accept-encoding: identity). */
  readonly rawBody: Buffer;
}

/** How far a failed request got, which decides whether it may be sent again (see mayResend). */
export interface Progress {
  /** The request was handed whole to the socket (the request's 'finish'). */
  readonly written: boolean;
  /** It went out on a keep-alive socket an earlier request had used. */
  readonly reusedSocket: boolean;
  /** An answer had begun (status line and headers read) when it failed. */
  readonly responded: boolean;
}

/**
 * No (complete) answer: a connection fault, a TLS failure or the timeout. Holds only the code,
 * the system's message and the progress: never the request, its headers or its credentials.
 */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(
    message: string,
    /** Node's error code (ECONNRESET, ECONNREFUSED, a TLS code, ETIMEDOUT for our timeout); undefined when it gave none. */
    readonly code: string | undefined,
    readonly progress: Progress,
    /** The timeout that ran out, for ETIMEDOUT. */
    readonly timeoutMs?: number,
  ) {
    super(message);
  }
}

/** An answer outside 2xx (redirects included), with its body. */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(
    readonly status: number,
    readonly statusMessage: string | undefined,
    readonly headers: IncomingHttpHeaders,
    readonly body: Buffer,
  ) {
    super(`${status} ${statusMessage ?? ''}`.trim());
  }
}

/**
 * A complete answer whose compressed body does not decompress (a proxy that compresses although we
 * ask for identity, and does it wrong). Another attempt gets the same bytes, so it is permanent;
 * a compressed stream that merely ends early is a body cut short instead (a TransportError).
 */
export class CorruptBodyError extends Error {
  override readonly name = 'CorruptBodyError';
  constructor(
    /** The Content-Encoding as sent (gzip, deflate, br). */
    readonly encoding: string,
    readonly status: number,
    readonly statusMessage: string | undefined,
    /** zlib's own words (incorrect header check, invalid block type). */
    readonly detail: string,
  ) {
    super(`${encoding} data is corrupt (${detail})`);
  }
}

/** Builds "?a=1&b=" exactly as got did: URLSearchParams of the values as strings (so `simplify: ''` is "simplify="). */
export function searchOf(params: Readonly<Record<string, string | number | boolean>> | undefined): string {
  if (params === undefined) return '';
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) search.append(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** Sends requests to one Orthanc over its agents. */
export class OrthancTransport {
  private readonly baseUrl: string;
  private readonly secure: boolean;
  private readonly agent: http.Agent;
  private readonly headers: Readonly<Record<string, string>>;
  private readonly timeoutMs: number;
  private readonly tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };

  constructor(options: TransportOptions) {
    this.baseUrl = options.baseUrl;
    this.secure = options.baseUrl.startsWith('https:');
    this.agent = this.secure ? options.agents.https : options.agents.http;
    this.timeoutMs = options.timeoutMs;
    this.headers = {
      // Uncompressed answers: Orthanc gzips JSON on the fly (HttpCompressionEnabled), which cost the
      // sidecar 12% of its CPU in inflating (a profile of SR + FHIR studies) and Orthanc the deflating.
      'accept-encoding': 'identity',
      ...(options.username !== undefined ? { authorization: `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}` } : {}),
    };
    this.tls = {
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.cert !== undefined ? { cert: options.cert } : {}),
      ...(options.key !== undefined ? { key: options.key } : {}),
    };
  }

  /** Sends one request; resolves with a 2xx answer, rejects with HttpStatusError, CorruptBodyError or TransportError. */
  send(request: TransportRequest): Promise<TransportResponse> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { ...this.headers, ...request.headers };
      let body = request.body;
      if (request.json !== undefined) {
        body = JSON.stringify(request.json);
        if (headers['content-type'] === undefined) headers['content-type'] = 'application/json';
      }
      if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
      const timeoutMs = request.timeoutMs ?? this.timeoutMs;
      let written = false;
      let responded = false;
      let settled = false;
      let req: http.ClientRequest | undefined;
      const fail = (error: Error & { code?: unknown }, code = typeof error.code === 'string' ? error.code : undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new TransportError(error.message, code, { written, reusedSocket: req?.reusedSocket === true, responded }, code === 'ETIMEDOUT' ? timeoutMs : undefined));
        req?.destroy();
      };
      const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`), 'ETIMEDOUT'), timeoutMs);
      try {
        // got's prefixUrl did the same: the base, a slash, the path, parsed as a whole (so a base with a path prefix works).
        const url = new URL(`${this.baseUrl}/${request.path}${searchOf(request.searchParams)}`);
        const options = { ...urlToHttpOptions(url), method: request.method, headers, agent: this.agent, ...this.tls };
        req = this.secure ? https.request(options) : http.request(options);
      } catch (error) {
        // A request Node refuses to build (a header with a control character, say) never left.
        fail(error as Error);
        return;
      }
      req.on('finish', () => (written = true));
      req.on('error', (error) => fail(error));
      req.on('response', (response: IncomingMessage) => {
        responded = true;
        const chunks: Buffer[] = [];
        let into = intoOf(request.into, response);
        let filled = 0;
        response.on('data', (chunk: Buffer) => {
          if (into === undefined) return void chunks.push(chunk);
          // Node's parser hands over no more than Content-Length: a longer answer is a broken one.
          if (filled + chunk.length > into.length) return fail(Object.assign(new Error('an answer longer than its Content-Length'), { code: 'ECONNRESET' }));
          filled += chunk.copy(into, filled);
        });
        response.on('error', (error) => fail(error));
        // A socket closed before the end of the body: 'close' without a complete message.
        response.on('close', () => {
          if (!response.complete) fail(Object.assign(new Error('connection closed before the answer was complete'), { code: 'ECONNRESET' }));
        });
        response.on('end', () => {
          if (settled) return;
          let rawBody: Buffer;
          const status = response.statusCode ?? 0;
          if (into !== undefined) {
            if (filled !== into.length) return fail(Object.assign(new Error('connection closed before the answer was complete'), { code: 'ECONNRESET' }));
            settled = true;
            clearTimeout(timer);
            resolve({ status, headers: response.headers, rawBody: into });
            into = undefined;
            return;
          }
          try {
            rawBody = decoded(response.headers['content-encoding'], chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
          } catch (error) {
            const { code, message } = error as Error & { code?: unknown };
            // A stream that ends early is a body cut short (an answer delimited by the closing of the
            // connection, closed mid-body), as when the connection closes before Content-Length.
            if (code === 'Z_BUF_ERROR') fail(Object.assign(new Error('connection closed before the answer was complete'), { code: 'ECONNRESET' }));
            else {
              settled = true;
              clearTimeout(timer);
              reject(new CorruptBodyError(String(response.headers['content-encoding']).trim(), status, response.statusMessage, message));
            }
            return;
          }
          settled = true;
          clearTimeout(timer);
          if (status >= 200 && status < 300) resolve({ status, headers: response.headers, rawBody });
          else reject(new HttpStatusError(status, response.statusMessage, response.headers, rawBody));
        });
      });
      req.end(body);
    });
  }
}

/** The memory `into` gives for this answer: only for a 2xx, uncompressed body of announced, non-zero length. */
function intoOf(into: BodyMemory | undefined, response: IncomingMessage): Buffer | undefined {
  const status = response.statusCode ?? 0;
  const length = response.headers['content-length'];
  const encoding = response.headers['content-encoding']?.trim().toLowerCase();
  if (into === undefined || status < 200 || status >= 300 || length === undefined || !/^[0-9]{1,15}$/.test(length)) return undefined;
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') return undefined;
  const size = Number(length);
  if (size === 0) return undefined;
  const memory = into(size);
  // Memory of another size is not used (nor given back: the giver keeps it lent, and nothing reads it).
  return memory?.length === size ? memory : undefined;
}

/** The body as sent, for a proxy that compressed it although we asked for identity (got decompressed too); throws on a corrupt body. */
export function decoded(encoding: string | undefined, body: Buffer): Buffer {
  if (body.length === 0) return body;
  switch (encoding?.trim().toLowerCase()) {
    case undefined:
    case '':
    case 'identity':
      return body;
    case 'gzip':
    case 'x-gzip':
      return gunzipSync(body);
    case 'deflate':
      // "deflate" is zlib-wrapped by the RFC, raw in some servers: the zlib header tells them apart.
      return (body[0] ?? 0) % 16 === 8 ? inflateSync(body) : inflateRawSync(body);
    case 'br':
      return brotliDecompressSync(body);
    default:
      return body;
  }
}
