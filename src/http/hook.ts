/**
 * Orthanc's Lua wake-up, POST /hooks/orthanc, answered before express (issue 17). A burst of 500
 * marks brings 500 of these; through express's router, the dashboard's routes and a body parser
 * each cost about as much CPU as a quarter of the study's own work on a 2-core machine. The call
 * is only a nudge to read the changes feed now: it never names what to read, so even a caller
 * holding the secret cannot make the sidecar read studies of its choosing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HOOK_TOKEN_HEADER, sameSecret } from './auth.js';

/** The wake-up's path, as express matched it: any case, one trailing slash allowed, any query. */
export const HOOK_PATH = '/hooks/orthanc';

/** Largest body taken: Orthanc's script sends none, and older copies of it a study ID. */
export const HOOK_BODY_LIMIT = 1024;

/** True for the requests answerHook takes (POST to the hook's path); every other request goes to express. */
export function isHookRequest(request: IncomingMessage): boolean {
  if (request.method !== 'POST') return false;
  const url = request.url ?? '';
  const query = url.indexOf('?');
  const path = (query === -1 ? url : url.slice(0, query)).toLowerCase();
  return path === HOOK_PATH || path === `${HOOK_PATH}/`;
}

/**
 * Answers the wake-up: 403 without a configured secret, 401 without the right one in
 * X-KV-Hook-Token (compared in constant time), 413 for a body over HOOK_BODY_LIMIT (by its
 * Content-Length, or as it arrives), else 204 once the body, ignored, has been read.
 */
export function answerHook(request: IncomingMessage, response: ServerResponse, secret: string | undefined, wake: () => void): void {
  if (secret === undefined || secret === '') {
    sendError(response, 403, 'forbidden', "the Orthanc hook is disabled: set KV_HOOK_TOKEN on the sidecar and in Orthanc's environment (the changes feed works without it)");
    return;
  }
  const given = request.headers[HOOK_TOKEN_HEADER];
  if (!sameSecret(typeof given === 'string' ? given : '', secret)) {
    sendError(response, 401, 'unauthorized', `a valid ${HOOK_TOKEN_HEADER} header is required`);
    return;
  }
  const tooLarge = `request body must be at most ${HOOK_BODY_LIMIT} bytes`;
  if (Number(request.headers['content-length'] ?? 0) > HOOK_BODY_LIMIT) {
    // Node reads the rest of the body away after the answer, so the connection stays usable.
    sendError(response, 413, 'bad-request', tooLarge);
    return;
  }
  let received = 0;
  let refused = false;
  request.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (!refused && received > HOOK_BODY_LIMIT) {
      refused = true;
      sendError(response, 413, 'bad-request', tooLarge);
    }
  });
  request.on('end', () => {
    if (refused) return;
    wake();
    response.writeHead(204).end();
  });
  // A caller that hangs up mid-body gets no answer and wakes nothing; the request errors are its own.
  request.on('error', () => undefined);
}

/** The API's JSON error shape, as express's routes answer it. */
function sendError(response: ServerResponse, status: number, kind: string, message: string): void {
  const body = JSON.stringify({ error: { kind, message } });
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
}
