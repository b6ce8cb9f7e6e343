/** The sidecar's HTTP API (express). createApp builds it and never listens; the sidecar command does. */
import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { httpStatusFor, errorKind, KidneyVolumesError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { MAX_PAYLOAD_BYTES, parseMeasurementsObject } from '../measurements/parse.js';
import type { OrthancClient } from '../orthanc/client.js';
import { METADATA } from '../pipeline/metadata.js';
import type { SidecarMetrics } from '../sidecar/metrics.js';
import { requestRetry } from '../sidecar/retry.js';
import { parseStatus } from '../sidecar/status.js';

/** What the API needs from the running daemon. */
export interface SidecarHandle {
  readonly ready: boolean;
  wake(studyId?: string): void;
}

/** Dependencies of the HTTP API. */
export interface AppDeps {
  readonly client: OrthancClient;
  readonly sidecar: SidecarHandle;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  /** Bearer token for write routes; without one they are refused. */
  readonly apiToken?: string;
  readonly now: () => Date;
  /** The dashboard (page, assets, login, its JSON API); it does its own auth, so it is mounted first. */
  readonly dashboard?: express.Router;
}

type Handler = (request: Request, response: Response) => Promise<void>;

/** Media types the measurements may come as. */
const JSON_TYPES = ['application/json', 'application/*+json'];

/** Builds the express app. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  const json = express.json({ limit: MAX_PAYLOAD_BYTES, strict: false, type: JSON_TYPES });
  const route = (handler: Handler) => (request: Request, response: Response, next: NextFunction) => handler(request, response).catch(next);
  const requireToken = bearer(deps.apiToken);
  if (deps.dashboard) app.use(deps.dashboard);

  app.get('/health', (_request, response) => {
    response.json({ status: 'ok' });
  });

  app.get('/ready', (_request, response) => {
    response.status(deps.sidecar.ready ? 200 : 503).json({ ready: deps.sidecar.ready });
  });

  app.get(
    '/metrics',
    route(async (_request, response) => {
      response.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    }),
  );

  app.post(
    '/studies/:study/kidney-volumes',
    requireToken,
    requireJson,
    json,
    route(async (request, response) => {
      const set = parseMeasurementsObject(request.body);
      const studyId = await deps.client.resolveStudy(String(request.params['study']));
      await deps.client.setStudyMetadata(studyId, METADATA.pending, JSON.stringify(request.body));
      deps.log.info({ studyId, digest: set.digest, event: 'marked' }, 'pending measurements set through the API');
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
    requireToken,
    route(async (request, response) => {
      const studyId = await deps.client.resolveStudy(String(request.params['study']));
      const { previous } = await requestRetry(deps.client, studyId, deps.now());
      deps.sidecar.wake(studyId);
      response.status(202).location(statusPath(studyId)).json({ studyId, previous, status: statusPath(studyId) });
    }),
  );

  // Orthanc's Lua callback: only a nudge to look at a study now; the feed stays the source of truth.
  app.post('/hooks/orthanc', express.text({ limit: 1024, type: '*/*' }), (request, response) => {
    const studyId = typeof request.body === 'string' ? request.body.trim() : '';
    deps.sidecar.wake(/^[0-9a-f]{8}(-[0-9a-f]{8}){4}$/.test(studyId) ? studyId : undefined);
    response.status(204).end();
  });

  app.use((request, response) => {
    response.status(404).json({ error: { kind: 'not-found', message: `no route ${request.method} ${request.path}` } });
  });

  app.use((error: unknown, _request: Request, response: Response, _next: NextFunction) => {
    const { status, kind, message } = describeError(error);
    if (status >= 500) deps.log.error({ kind, event: 'http-error' }, message);
    response.status(status).json({ error: { kind, message } });
  });
  return app;
}

/** Where a study's status is read. */
function statusPath(studyId: string): string {
  return `/studies/${studyId}/kidney-volumes`;
}

function bearer(token: string | undefined) {
  return (request: Request, response: Response, next: NextFunction): void => {
    if (token === undefined || token === '') {
      response.status(403).json({ error: { kind: 'forbidden', message: 'write routes are disabled: set KV_API_TOKEN on the sidecar to enable them' } });
      return;
    }
    const given = /^Bearer (.+)$/i.exec(request.get('authorization') ?? '')?.[1] ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      response.status(401).set('www-authenticate', 'Bearer').json({ error: { kind: 'unauthorized', message: 'a valid "Authorization: Bearer <KV_API_TOKEN>" header is required' } });
      return;
    }
    next();
  };
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
    // The limit is the route's own (the Lua hook allows far less than the measurements route).
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
