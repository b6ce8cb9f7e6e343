/**
 * How the Orthanc client holds its connections (issue 17): keep-alive sockets whose idle timeout
 * is below Orthanc's, and which failed requests may be sent again after a connection fault.
 *
 * Orthanc closes an idle keep-alive connection after 1 s (its KeepAliveTimeout, new in 1.11.3,
 * default 1; 1.10 behaves the same and answers `Keep-Alive: timeout=1`). Node's own agent reads
 * that hint, subtracts a second and so never reuses a socket to Orthanc: one TCP connection per
 * request. A request written on a socket the server closes in the same instant meets a reset.
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { TransportError } from './transport.js';

/** Idle keep-alive sockets are closed after this long: half of Orthanc's default KeepAliveTimeout of 1 s. */
export const DEFAULT_IDLE_MS = 500;

/**
 * Connections one client keeps to Orthanc: the sidecar's 4 studies times the private step's 4
 * uploads; more requests queue in the agent. With 32, a loaded Orthanc 1.10 reset some fresh
 * connections in a burst of 200 uploads (cause not found); 8 and 16 did not.
 */
export const DEFAULT_MAX_SOCKETS = 16;

/** Sockets to one Orthanc, per protocol. */
export interface OrthancAgents {
  readonly http: http.Agent;
  readonly https: https.Agent;
}

/** Closes idle sockets after `idleMs`, or after half of what the server announces in Keep-Alive: timeout=N when that is shorter. */
function keepSocketAlive(socket: Duplex & { setTimeout(ms: number): unknown; setKeepAlive(on: boolean): unknown; unref(): unknown; _httpMessage?: { res?: http.IncomingMessage } }, idleMs: number): boolean {
  const hint = /timeout=(\d+)/.exec(String(socket._httpMessage?.res?.headers['keep-alive'] ?? ''))?.[1];
  const idle = hint !== undefined ? Math.min(idleMs, (Number(hint) * 1000) / 2) : idleMs;
  if (idle <= 0) return false;
  socket.setKeepAlive(true);
  socket.unref();
  // The agent destroys a free socket whose timeout fires (Node's Agent, onTimeout).
  socket.setTimeout(idle);
  return true;
}

/** Keep-alive agents for one client; `maxSockets` bounds the connections it opens to Orthanc. */
export function orthancAgents(idleMs = DEFAULT_IDLE_MS, maxSockets = DEFAULT_MAX_SOCKETS): OrthancAgents {
  const options = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const };
  class HttpAgent extends http.Agent {
    override keepSocketAlive(socket: Duplex): boolean {
      return keepSocketAlive(socket as Parameters<typeof keepSocketAlive>[0], idleMs);
    }
  }
  class HttpsAgent extends https.Agent {
    override keepSocketAlive(socket: Duplex): boolean {
      return keepSocketAlive(socket as Parameters<typeof keepSocketAlive>[0], idleMs);
    }
  }
  return { http: new HttpAgent(options), https: new HttpsAgent(options) };
}

/** What a second sending of a request could do: nothing (idempotent), fail its own check (compare-and-set), or act twice (unsafe). */
export type Resend = 'idempotent' | 'compare-and-set' | 'unsafe';

/** Connection faults after which the request may or may not have reached the server. */
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
/** Faults before any byte of the request could reach the server. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Whether a request that failed with this error may be sent once more, at once, whatever the
 * retry budget (a stale socket is no fault of Orthanc's). A request never (completely) written
 * cannot have been acted on: always. One written on a reused keep-alive socket that was then reset
 * (Orthanc closed it in that instant, or our event loop stalled past its keep-alive timeout)
 * may have reached Orthanc: only when a second sending is harmless, i.e. idempotent or
 * compare-and-set (a repeated compare-and-set that had landed answers 409, which its caller
 * handles). Resets on fresh sockets are left to the caller's retries.
 */
export function mayResend(error: unknown, resend: Resend): boolean {
  if (!(error instanceof TransportError) || error.progress.responded || error.code === undefined) return false;
  if (NOT_CONNECTED.has(error.code)) return true;
  if (!CONNECTION_LOST.has(error.code)) return false;
  // `written` is the request's 'finish': the whole request was handed to the socket.
  if (!error.progress.written) return true;
  return error.progress.reusedSocket && resend !== 'unsafe';
}
