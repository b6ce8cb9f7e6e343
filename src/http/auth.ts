/**
 * The API's one token check, shared by the REST routes, the /events WebSocket and the dashboard:
 * the token comes as "Authorization: Bearer <token>" or in the HttpOnly cookie the dashboard's
 * login sets. A request authenticated by the cookie that changes something, or opens a WebSocket,
 * must come from the sidecar's own origin (a browser sends cookies to cross-site requests too).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';

/** Name of the dashboard's session cookie (HttpOnly, SameSite=Strict; set by its login). */
export const SESSION_COOKIE = 'kv_session';

/**
 * The session cookie's value: an HMAC of the token, so the token itself never sits in the browser,
 * every replica accepts the cookie without shared session state, and changing the token logs everyone out.
 */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('kidney-volumes dashboard session v1').digest('base64url');
}

/** Header in which Orthanc's Lua script sends the hook secret. */
export const HOOK_TOKEN_HEADER = 'x-kv-hook-token';

/** Where a request's token came from. */
export type TokenSource = 'bearer' | 'cookie';

/** Which of the accepted tokens the request holds, and how; the Authorization header wins over the cookie. */
export function credentialOf(request: IncomingMessage, tokens: readonly string[]): { token: string; source: TokenSource } | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
  if (bearer !== undefined) {
    const token = tokens.find((t) => sameSecret(bearer, t));
    return token === undefined ? undefined : { token, source: 'bearer' };
  }
  const cookie = cookieValue(request.headers.cookie ?? '', SESSION_COOKIE);
  if (cookie === undefined || cookie === '') return undefined;
  const token = tokens.find((t) => sameSecret(cookie, sessionValue(t)));
  return token === undefined ? undefined : { token, source: 'cookie' };
}

/** Compares a given secret with the expected one in constant time (no early exit that leaks a prefix). */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * True when the request's Origin, if any, is the sidecar itself (same host and port as the Host
 * header). Programs (curl, Prometheus, ws clients) send no Origin and pass; browsers always send it.
 */
export function sameOrigin(request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === (request.headers.host ?? '');
  } catch {
    return false;
  }
}

/** Why a request may not pass, as the status and JSON error the API answers; undefined when it may. */
export function refusal(request: IncomingMessage, tokens: readonly (string | undefined)[]): { status: number; kind: string; message: string } | undefined {
  const accepted = tokens.filter((t): t is string => t !== undefined && t !== '');
  if (accepted.length === 0) {
    return { status: 403, kind: 'forbidden', message: 'the API is disabled: set KV_API_TOKEN on the sidecar to enable it (only /health and /ready are open)' };
  }
  const given = credentialOf(request, accepted);
  if (given === undefined) {
    return { status: 401, kind: 'unauthorized', message: 'a valid "Authorization: Bearer <KV_API_TOKEN>" header is required' };
  }
  const changes = request.method !== 'GET' && request.method !== 'HEAD';
  // A WebSocket is checked whatever carries the token: browsers let any page open one to any host.
  const upgrade = request.headers.upgrade !== undefined;
  if (((given.source === 'cookie' && changes) || upgrade) && !sameOrigin(request)) {
    return { status: 403, kind: 'forbidden', message: `requests from origin ${request.headers.origin ?? ''} are refused: only the sidecar's own pages may use its cookie` };
  }
  return undefined;
}

/** Express middleware: passes a request carrying one of the tokens (undefined ones are ignored), answers 401/403 otherwise. */
export function requireToken(...tokens: (string | undefined)[]) {
  return (request: Request, response: Response, next: NextFunction): void => {
    const refused = refusal(request, tokens);
    if (refused === undefined) return next();
    if (refused.status === 401) response.set('www-authenticate', 'Bearer');
    response.status(refused.status).json({ error: { kind: refused.kind, message: refused.message } });
  };
}

function cookieValue(header: string, name: string): string | undefined {
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) {
      try {
        return decodeURIComponent(part.slice(at + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
