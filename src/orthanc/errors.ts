/** Turns the transport's failures into errors a PACS admin understands; never quotes credentials. */
import { OrthancCorruptAnswerError, OrthancHttpError, OrthancUnreachableError } from '../errors.js';
import { redactUrl } from './redact.js';
import { tlsReason } from './tls.js';
import { CorruptBodyError, HttpStatusError, TransportError } from './transport.js';

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
  if (error instanceof HttpStatusError) {
    const body = error.body.toString('utf8');
    const location = error.status >= 300 && error.status < 400 ? error.headers.location : undefined;
    return new OrthancHttpError(method, path, error.status, body, httpMessage(error.status, error.statusMessage, body, method, path, location));
  }
  if (error instanceof CorruptBodyError) {
    const head = `${error.status} ${error.statusMessage ?? ''}`.trim();
    return new OrthancCorruptAnswerError(
      method,
      path,
      error.status,
      `the server's answer to ${method} ${baseUrl}${path} (${head}) could not be decompressed: ${error.message}; ` +
        `it came with Content-Encoding: ${error.encoding} although the sidecar asks for identity, so something between it and Orthanc (a proxy?) compresses answers wrongly`,
    );
  }
  if (error instanceof TransportError) {
    // TLS codes only for https: EPROTO over plain http would mean something else.
    const tls = baseUrl.startsWith('https://') ? tlsReason(error.code, error.message) : undefined;
    const timeout = error.timeoutMs !== undefined ? `${error.timeoutMs} ms` : 'the timeout';
    const reason = tls ?? (error.code === 'ETIMEDOUT' ? `no answer within ${timeout}` : (error.code !== undefined ? REASONS[error.code] ?? error.code : error.message));
    // A TLS refusal (untrusted certificate, wrong key) stays until somebody changes a certificate.
    return new OrthancUnreachableError(baseUrl, reason, tls === undefined);
  }
  return error instanceof Error ? error : new Error(String(error));
}

function httpMessage(status: number, statusMessage: string | undefined, body: string, method: string, path: string, location: string | undefined): string {
  const head = `${status} ${statusMessage ?? ''}`.trim();
  if (status === 401 || status === 403) {
    return `${head} from Orthanc: check ORTHANC_USERNAME / ORTHANC_PASSWORD`;
  }
  // Orthanc's REST API never redirects: something in front of it does, and ORTHANC_URL should name where it points.
  if (location !== undefined) {
    return `${head} from Orthanc: ${method} ${path} is redirected to ${redactUrl(location)}; set ORTHANC_URL to the address Orthanc answers on (redirects are not followed)`;
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
