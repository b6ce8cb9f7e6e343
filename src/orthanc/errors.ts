/** Turns got's failures into errors a PACS admin understands; never quotes credentials. */
import { HTTPError, RequestError } from 'got';
import { OrthancHttpError, OrthancUnreachableError } from '../errors.js';
import { tlsReason } from './tls.js';

const REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
  ETIMEDOUT: 'timed out',
};

/** Maps one failed request to a typed error. */
export function toOrthancError(error: unknown, baseUrl: string, method: string, path: string): Error {
  if (error instanceof HTTPError) {
    const status = error.response.statusCode;
    const body = bodyText(error.response.body);
    return new OrthancHttpError(method, path, status, body, httpMessage(status, error.response.statusMessage, body, method, path));
  }
  if (error instanceof RequestError) {
    // TLS codes only for https: EPROTO over plain http would mean something else.
    const tls = baseUrl.startsWith('https://') ? tlsReason(error.code, error.message) : undefined;
    const reason = tls ?? (error.code === 'ETIMEDOUT' ? `no answer within ${timeoutOf(error)}` : REASONS[error.code] ?? error.code);
    // A TLS refusal (untrusted certificate, wrong key) stays until somebody changes a certificate.
    return new OrthancUnreachableError(baseUrl, reason, tls === undefined);
  }
  return error instanceof Error ? error : new Error(String(error));
}

function httpMessage(status: number, statusMessage: string | undefined, body: string, method: string, path: string): string {
  const head = `${status} ${statusMessage ?? ''}`.trim();
  if (status === 401 || status === 403) {
    return `${head} from Orthanc: check ORTHANC_USERNAME / ORTHANC_PASSWORD`;
  }
  const details = orthancDetails(body);
  return `${head} from Orthanc: ${details ?? `${method} ${path}`}`;
}

/** Orthanc's own explanation from its JSON error body (Details, else Message). */
function orthancDetails(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { Details?: unknown; Message?: unknown };
    const text = typeof parsed.Details === 'string' && parsed.Details !== '' ? parsed.Details : parsed.Message;
    return typeof text === 'string' && text !== '' ? text : undefined;
  } catch {
    return body.trim() === '' ? undefined : body.trim().slice(0, 300);
  }
}

function bodyText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body)) return body.toString('utf8');
  return body === undefined ? '' : JSON.stringify(body);
}

function timeoutOf(error: RequestError): string {
  const ms = error.options?.timeout?.request;
  return typeof ms === 'number' ? `${ms} ms` : 'the timeout';
}
