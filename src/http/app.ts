/** The sidecar's HTTP API (express, but for the Lua wake-up). createApp builds it and never listens; the sidecar command does. */
import { randomBytes } from 'node:crypto';
import type { RequestListener } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { httpStatusFor, errorKind, KidneyVolumesError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { MAX_PAYLOAD_BYTES, parseMeasurementsObject } from '../measurements/parse.js';
import type { OrthancClient } from '../orthanc/client.js';
import { writePersonMark } from '../inputs/person-mark.js';
import { METADATA } from '../orthanc/metadata.js';
import { requestRetry } from '../status/requeue.js';
import { parseStatus } from '../status/status.js';
import { requireToken } from './auth.js';
import { answerHook, isHookRequest } from './hook.js';
import type { MetricsView } from './sidecar-view.js';

/** What the API needs from the running daemon. */
export interface SidecarHandle {
  readonly ready: boolean;
  wake(studyId?: string): void;
}

/** Dependencies of the HTTP API. */
export interface AppDeps {
  readonly client: OrthancClient;
  readonly sidecar: SidecarHandle;
  readonly metrics: MetricsView;
  readonly log: Logger;
  /** Token of every route but /health and /ready; without one they are refused. */
  readonly apiToken?: string;
  /** A second token that opens /metrics only (Prometheus). */
  readonly metricsToken?: string;
  /** Secret Orthanc's Lua script sends with each wake-up; without one the hook is refused. */
  readonly hookToken?: string;
  readonly now: () => Date;
  /** The dashboard (page, assets, login, its JSON API); it does its own auth, so it is mounted first. */
  readonly dashboard?: express.Router;
}

type Handler = (request: Request, response: Response) => Promise<void>;

/** Media types the measurements may come as. */
const JSON_TYPES = ['application/json', 'application/*+json'];

/**
 * Builds the request listener: Orthanc's Lua wake-up (POST /hooks/orthanc) is answered before
 * express (src/http/hook.ts says why), every other request goes to the express app.
 */
export function createApp(deps: AppDeps): RequestListener {
  const app = createExpressApp(deps);
  return (request, response) => {
    if (isHookRequest(request)) answerHook(request, response, deps.hookToken, () => deps.sidecar.wake());
    else app(request, response);
  };
}

/** The express app: every route but the Lua wake-up. */
function createExpressApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  const json = express.json({ limit: MAX_PAYLOAD_BYTES, strict: false, type: JSON_TYPES });
  const route = (handler: Handler) => (request: Request, response: Response, next: NextFunction) => handler(request, response).catch(next);
  const token = requireToken(deps.apiToken);
  if (deps.dashboard) app.use(deps.dashboard);

  app.get('/health', (_request, response) => {
    response.json({ status: 'ok' });
  });

  app.get('/ready', (_request, response) => {
    response.status(deps.sidecar.ready ? 200 : 503).json({ ready: deps.sidecar.ready });
  });

  app.get(
    '/metrics',
    requireToken(deps.apiToken, deps.metricsToken),
    route(async (_request, response) => {
      response.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    }),
  );

  // Everything below needs the API token.
  app.use(token);

  app.post(
    '/studies/:study/kidney-volumes',
    requireJson,
    json,
    route(async (request, response) => {
      const set = parseMeasurementsObject(request.body);
      const { studyId, outcome } = await writePersonMark(deps.client, String(request.params['study']), JSON.stringify(request.body), set, 'api', deps.now());
      deps.log.info({ studyId, digest: set.digest, event: 'marked', outcome }, 'pending measurements set through the API');
      deps.sidecar.wake(studyId);
      response
        .status(202)
        .location(statusPath(studyId))
        .json({ studyId, digest: set.digest, measurements: set.measurements, status: statusPath(studyId) });
    }),
  );

  app.get(
    '/studies/:study/kidney-volumes',
    route(async (request, response) => {
      const studyId = await deps.client.resolveStudy(String(request.params['study']));
      const [pending, status] = await Promise.all([deps.client.studyMetadata(studyId, METADATA.pending), deps.client.studyMetadata(studyId, METADATA.status)]);
      response.json({
        studyId,
        pending: pending ? safeJson(pending.value) : null,
        status: status ? parseStatus(status.value) ?? null : null,
      });
    }),
  );

  app.post(
    '/studies/:study/kidney-volumes/retry',
    route(async (request, response) => {
      const studyId = await deps.client.resolveStudy(String(request.params['study']));
      const { previous } = await requestRetry(deps.client, studyId, deps.now());
      deps.sidecar.wake(studyId);
      response.status(202).location(statusPath(studyId)).json({ studyId, previous, status: statusPath(studyId) });
    }),
  );

  app.use((request, response) => {
    response.status(404).json({ error: { kind: 'not-found', message: `no route ${request.method} ${request.path}` } });
  });

  app.use((error: unknown, request: Request, response: Response, _next: NextFunction) => {
    const { status, kind, message } = describeError(error);
    if (status < 500) {
      response.status(status).json({ error: { kind, message } });
      return;
    }
    // The client gets a short message and an ID to quote; the details (which may name hosts or
    // paths) go to the log under the same ID.
    const errorId = randomBytes(6).toString('hex');
    deps.log.error({ kind, event: 'http-error', errorId, method: request.method, path: request.path, err: error }, message);
    response.status(status).json({ error: { kind, message: `${shortMessage(kind, message)} (error ID ${errorId}; the sidecar's log has the details)`, errorId } });
  });
  return app;
}

/** Where a study's status is read. */
function statusPath(studyId: string): string {
  return `/studies/${studyId}/kidney-volumes`;
}

/** What a 5xx says to the client: the kind of failure, not its internals. */
function shortMessage(kind: string, message: string): string {
  const short: Record<string, string> = {
    'orthanc-unreachable': 'Orthanc cannot be reached',
    'orthanc-auth': "Orthanc refused the sidecar's credentials",
    'orthanc-http': 'Orthanc answered with an error',
    'not-available': message,
  };
  return short[kind] ?? `${kind === 'internal' ? 'internal' : kind} error`;
}

/**
 * Refuses a missing or non-JSON body (415): express.json leaves it unparsed, and the measurement
 * parser would then report a confusing "got undefined" instead of the real mistake.
 */
function requireJson(request: Request, response: Response, next: NextFunction): void {
  if (!request.is(JSON_TYPES)) {
    const given = request.get('content-type') ?? 'none';
    const message = `a JSON body with Content-Type application/json is required, got Content-Type "${given}"`;
    response.status(415).json({ error: { kind: 'unsupported-media-type', message } });
    return;
  }
  next();
}

/** Maps any error to a status and a JSON body; body-parser's own errors keep their status. */
function describeError(error: unknown): { status: number; kind: string; message: string } {
  if (error instanceof KidneyVolumesError) return { status: httpStatusFor(error), kind: errorKind(error), message: error.message };
  const e = error as { status?: unknown; type?: unknown; limit?: unknown };
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    // The limit is the route's own (the dashboard's login allows far less than the measurements route).
    const limit = typeof e.limit === 'number' ? e.limit : MAX_PAYLOAD_BYTES;
    const message = e.type === 'entity.too.large' ? `request body must be at most ${limit} bytes` : `invalid request body: ${messageOf(error)}`;
    return { status: e.status, kind: 'bad-request', message };
  }
  return { status: 500, kind: 'internal', message: messageOf(error) };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
