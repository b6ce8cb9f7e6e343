/**
 * The API's one token check, shared by the REST routes, the /events WebSocket and the dashboard:
 * the token comes as "Authorization: Bearer <token>" or in the HttpOnly cookie the dashboard's
 * login sets. A request authenticated by the cookie that changes something, or opens a WebSocket,
 * must come from the sidecar's own origin (a browser sends cookies to cross-site requests too).
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';

/** Name of the cookie that carries the API token (HttpOnly, SameSite=Strict; set by the dashboard's login). */
export const TOKEN_COOKIE = 'kv_token';

/** Header in which Orthanc's Lua script sends the hook secret. */
export const HOOK_TOKEN_HEADER = 'x-kv-hook-token';

/** Where a request's token came from. */
export type TokenSource = 'bearer' | 'cookie';

/** The token a request carries and where it came from; the Authorization header wins over the cookie. */
export function tokenOf(request: IncomingMessage): { token: string; source: TokenSource } | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
  if (bearer !== undefined) return { token: bearer, source: 'bearer' };
  const cookie = cookieValue(request.headers.cookie ?? '', TOKEN_COOKIE);
  return cookie !== undefined && cookie !== '' ? { token: cookie, source: 'cookie' } : undefined;
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
  const given = tokenOf(request);
  if (given === undefined || !accepted.some((t) => sameSecret(given.token, t))) {
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
