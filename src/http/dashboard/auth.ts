/**
 * Who may use the dashboard: a browser that logged in with the API token (an HttpOnly,
 * SameSite=Strict session cookie) or a client sending `Authorization: Bearer <KV_API_TOKEN>`.
 * State-changing requests carried by the cookie must also come from the dashboard's own origin.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { credentialOf as sharedCredentialOf, SESSION_COOKIE, sessionValue } from '../auth.js';
/** How long a login lasts in the browser. */
const SESSION_MAX_AGE_MS = 12 * 60 * 60 * 1000;

/** How a request proved it holds the token. */
export type Credential = 'bearer' | 'cookie';

/** How the request holds the token, or undefined when it does not (the API's one check, src/http/auth.ts). */
export function credentialOf(request: Request, token: string | undefined): Credential | undefined {
  if (token === undefined || token === '') return undefined;
  return sharedCredentialOf(request, [token])?.source;
}

/** True when the token given at login is the API token. */
export function tokenMatches(given: string, token: string | undefined): boolean {
  return token !== undefined && token !== '' && same(given, token);
}

/** Sets the session cookie after a good login. */
export function setSession(request: Request, response: Response, token: string): void {
  response.cookie(SESSION_COOKIE, sessionValue(token), { httpOnly: true, sameSite: 'strict', secure: request.secure, path: '/', maxAge: SESSION_MAX_AGE_MS });
}

/** Clears the session cookie. */
export function clearSession(request: Request, response: Response): void {
  response.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: request.secure, path: '/' });
}

/**
 * True when the request's Origin names this server (same host and port; the scheme may differ
 * behind a TLS-terminating proxy) or one of the extra origins an admin allowed. A request without
 * Origin is accepted only when `required` is false (curl with a bearer token sends none).
 */
export function originAllowed(request: Request, required: boolean, extra: readonly string[] = []): boolean {
  const origin = request.get('origin');
  if (origin === undefined) return !required;
  if (extra.includes(origin)) return true;
  try {
    return new URL(origin).host === request.get('host');
  } catch {
    return false;
  }
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
