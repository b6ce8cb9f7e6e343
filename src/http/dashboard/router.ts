/**
 * The dashboard's routes: the page at `/`, its assets under /dashboard/assets, the login, and a
 * JSON API under /dashboard/api for the page. It does its own auth (the page and the login form
 * must load before anyone is logged in), so app.ts mounts it ahead of the API's token check.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { errorKind, httpStatusFor, KidneyVolumesError, messageOf } from '../../errors.js';
import type { IndexFeed } from '../../index/feed.js';
import { ROW_STATES, type RowState } from '../../index/row.js';
import type { StudyIndex } from '../../index/store.js';
import type { Logger } from '../../log.js';
import type { OrthancClient } from '../../orthanc/client.js';
import type { MetricsView } from '../sidecar-view.js';
import { requestRetry } from '../../status/requeue.js';
import { webFolder, uplotFolder } from './assets.js';
import { clearSession, credentialOf, originAllowed, setSession, tokenMatches, type Credential } from './auth.js';
import { healthReport } from './health.js';
import { studyDetail } from './study-detail.js';

/** What the dashboard needs from the running sidecar. */
export interface DashboardDeps {
  readonly client: OrthancClient;
  readonly index: StudyIndex;
  readonly feed: Pick<IndexFeed, 'state' | 'refresh'>;
  readonly metrics: MetricsView;
  readonly sidecar: { readonly ready: boolean; wake(studyId?: string): void };
  readonly log: Logger;
  readonly apiToken?: string;
  readonly replicaId: string;
  /** Orthanc's address as the admin's browser reaches it, for links to Orthanc Explorer. */
  readonly orthancPublicUrl: string;
  /** Origins besides the sidecar's own that may send state-changing requests (a reverse proxy's name). */
  readonly allowedOrigins?: readonly string[];
  readonly now: () => Date;
}

type Handler = (request: Request, response: Response) => Promise<void>;

/** Orthanc study IDs are SHA-1 based: five groups of eight hex digits. */
const ORTHANC_ID = /^[0-9a-f]{8}(-[0-9a-f]{8}){4}$/;

/** Builds the dashboard's router. */
export function dashboardRouter(deps: DashboardDeps): Router {
  const router = express.Router();
  const route = (handler: Handler) => (request: Request, response: Response, next: NextFunction) => handler(request, response).catch(next);
  const web = webFolder();
  const noStore = (_request: Request, response: Response, next: NextFunction): void => {
    response.set('cache-control', 'no-store');
    next();
  };
  // The page talks only to this server; nothing from elsewhere may load, frame it, or be framed.
  const securityHeaders = (_request: Request, response: Response, next: NextFunction): void => {
    response.set({
      'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
    });
    next();
  };

  router.get(['/', '/index.html'], securityHeaders, noStore, (_request, response) => {
    response.sendFile('index.html', { root: web });
  });
  router.use('/dashboard/assets/vendor', securityHeaders, express.static(uplotFolder(), { index: false, fallthrough: false }));
  router.use('/dashboard/assets', securityHeaders, express.static(web, { index: false, fallthrough: false }));

  router.post('/dashboard/login', express.json({ limit: 4096 }), (request, response) => {
    if (!originAllowed(request, true, deps.allowedOrigins)) return refuseOrigin(request, response);
    if (deps.apiToken === undefined || deps.apiToken === '') {
      response.status(403).json({ error: { kind: 'forbidden', message: 'the dashboard is disabled: set KV_API_TOKEN on the sidecar, then log in with it' } });
      return;
    }
    const given = typeof (request.body as { token?: unknown } | undefined)?.token === 'string' ? (request.body as { token: string }).token : '';
    if (!tokenMatches(given, deps.apiToken)) {
      deps.log.warn({ event: 'login-failed', ip: request.ip }, 'dashboard login with a wrong token');
      response.status(401).json({ error: { kind: 'unauthorized', message: 'wrong token: use the value of KV_API_TOKEN' } });
      return;
    }
    setSession(request, response, deps.apiToken);
    deps.log.info({ event: 'login', ip: request.ip }, 'dashboard login');
    response.status(204).end();
  });

  // Asked by the page on load; answers 200 either way so a logged-out page logs no error.
  router.get('/dashboard/session', noStore, (request, response) => {
    response.json({ loggedIn: credentialOf(request, deps.apiToken) !== undefined, tokenConfigured: Boolean(deps.apiToken) });
  });

  router.post('/dashboard/logout', (request, response) => {
    if (!originAllowed(request, true, deps.allowedOrigins)) return refuseOrigin(request, response);
    clearSession(request, response);
    response.status(204).end();
  });

  const api = express.Router();
  api.use(noStore, (request, response, next) => {
    const credential = credentialOf(request, deps.apiToken);
    if (credential === undefined) {
      const message = deps.apiToken ? 'log in with the API token, or send "Authorization: Bearer <KV_API_TOKEN>"' : 'the dashboard is disabled: set KV_API_TOKEN on the sidecar';
      response.status(401).set('www-authenticate', 'Bearer').json({ error: { kind: 'unauthorized', message } });
      return;
    }
    response.locals['credential'] = credential;
    next();
  });

  api.get('/session', (_request, response) => {
    response.json({ loggedIn: true, replica: deps.replicaId });
  });

  api.get('/studies', (request, response) => {
    const states = String(request.query['state'] ?? '')
      .split(',')
      .filter((s): s is RowState => (ROW_STATES as readonly string[]).includes(s));
    const page = deps.index.list({
      states,
      search: String(request.query['q'] ?? '').slice(0, 200),
      page: Number(request.query['page'] ?? 1) || 1,
      pageSize: Number(request.query['pageSize'] ?? 50) || 50,
    });
    response.json(page);
  });

  api.get(
    '/studies/:study/row',
    route(async (request, response) => {
      const row = await deps.feed.refresh(studyIdParam(request));
      if (row === undefined) throw new KidneyVolumesError('not-found', `study ${studyIdParam(request)} carries no kidney-volumes marks`);
      response.json(row);
    }),
  );

  api.get(
    '/studies/:study',
    route(async (request, response) => {
      const studyId = studyIdParam(request);
      const row = await deps.feed.refresh(studyId).catch(() => deps.index.get(studyId));
      response.json(await studyDetail(deps.client, studyId, row, deps.orthancPublicUrl));
    }),
  );

  api.post(
    '/studies/:study/retry',
    route(async (request, response) => {
      // A cookie rides along on any request the browser makes, so a cookie-borne retry must prove
      // it comes from the dashboard itself; a bearer token cannot be sent by another site's page.
      const credential = response.locals['credential'] as Credential;
      if (!originAllowed(request, credential === 'cookie', deps.allowedOrigins)) return refuseOrigin(request, response);
      const studyId = studyIdParam(request);
      const { previous } = await requestRetry(deps.client, studyId, deps.now());
      deps.sidecar.wake(studyId);
      deps.log.info({ studyId, previous, event: 'retry-requested', via: 'dashboard', credential }, 'retry requested from the dashboard');
      const row = await deps.feed.refresh(studyId).catch(() => undefined);
      response.status(202).json({ studyId, previous, row: row ?? null });
    }),
  );

  api.get(
    '/health',
    route(async (_request, response) => {
      response.json(await healthReport({ ...deps, feed: deps.feed }));
    }),
  );

  router.use('/dashboard/api', api);
  router.use('/dashboard/api', (error: unknown, _request: Request, response: Response, _next: NextFunction) => {
    const status = error instanceof KidneyVolumesError ? httpStatusFor(error) : 500;
    if (status >= 500) deps.log.error({ kind: errorKind(error), event: 'dashboard-error', err: error }, messageOf(error));
    response.status(status).json({ error: { kind: errorKind(error), message: status >= 500 ? 'internal error; see the sidecar log' : messageOf(error) } });
  });
  return router;
}

function studyIdParam(request: Request): string {
  const id = String(request.params['study'] ?? '');
  if (!ORTHANC_ID.test(id)) throw new KidneyVolumesError('usage', `expected an Orthanc study ID (five groups of eight hex digits), got "${id.slice(0, 80)}"`);
  return id;
}

function refuseOrigin(request: Request, response: Response): void {
  const origin = request.get('origin') ?? 'none';
  response.status(403).json({ error: { kind: 'forbidden', message: `request refused: its Origin (${origin}) is not this dashboard (${request.get('host') ?? '?'})` } });
}
