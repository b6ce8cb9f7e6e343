// The HTTP API of the real sidecar process (dist/bundle/main.js sidecar) against a real Orthanc:
// what a client of the API sees, what Orthanc holds afterwards, and what the process logs.
// The tests run in order against one study and one process, as a client's session would.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createApp } from '../../src/http/app.js';
import { sessionValue } from '../../src/http/auth.js';
import { createLogger } from '../../src/log.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import type { StudyEvent } from '../../src/sidecar/events.js';
import { SidecarMetrics } from '../../src/sidecar/metrics.js';
import type { StudyStatus } from '../../src/status/status.js';
import { ctStudy, uploadStudy, type BuiltStudy } from '../fixtures/studies.js';
import { freePort } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { OrthancClient } from '../../src/orthanc/client.js';
import { seriesCounts } from '../sidecar/harness.js';
import { runSidecar, type RunningSidecar } from '../helpers/sidecar-process.js';

const TOKEN = 'test-token';
const METRICS_TOKEN = 'metrics-token';
const HOOK_TOKEN = 'hook-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };
// The sidecar logs in as its own Orthanc user with a password found nowhere else (the default
// one, "kidney-volumes", is also the service name in every log line), so a leak is detectable.
const SIDECAR_USER = 'kv-sidecar';
const SIDECAR_PASSWORD = `pw-${randomUUID()}`;
const VOLUMES = { 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' };

interface ErrorBody {
  readonly error: { readonly kind: string; readonly message: string };
}
interface StatusBody {
  readonly studyId: string;
  readonly pending: unknown;
  readonly status: StudyStatus | null;
}

let sidecar: RunningSidecar;
let study: BuiltStudy & { orthancId: string };
let socket: WebSocket;
const events: StudyEvent[] = [];

const orthanc = useOrthanc({ RegisteredUsers: { kidney: 'kidney-volumes', [SIDECAR_USER]: SIDECAR_PASSWORD } });
beforeAll(async () => {
  study = await uploadStudy(orthanc.client, ctStudy(2));
  sidecar = await runSidecar({
    env: {
      ...orthanc.env,
      ORTHANC_USERNAME: SIDECAR_USER,
      ORTHANC_PASSWORD: SIDECAR_PASSWORD,
      KV_POLL_INTERVAL_MS: '200',
      KV_API_TOKEN: TOKEN,
      KV_METRICS_TOKEN: METRICS_TOKEN,
      KV_HOOK_TOKEN: HOOK_TOKEN,
      KV_LOG_LEVEL: 'info',
      KV_RETRIES: '1',
    },
  });
  socket = new WebSocket(wsUrl(), { headers: AUTH });
  socket.on('message', (data: Buffer) => events.push(JSON.parse(data.toString()) as StudyEvent));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
});
afterAll(async () => {
  socket?.terminate();
  await sidecar?.stop();
});

const url = (path: string) => `${sidecar.url}${path}`;
const wsUrl = () => `${sidecar.url.replace(/^http/, 'ws')}/events`;
/** This study's state events, one per change (its `progress` reports are their own kind, checked apart). */
const mine = () => events.filter((e) => e.studyId === study.orthancId && (e.kind as string) !== 'progress').map((e) => e.kind);
/** This study's progress reports over the socket, as "approach done/total". */
const progressOf = () =>
  events
    .filter((e) => e.studyId === study.orthancId && (e.kind as string) === 'progress')
    .map((e) => e as unknown as { approach: string; done: number; total: number })
    .map((p) => `${p.approach} ${p.done}/${p.total}`);
const markPath = () => `/studies/${study.studyInstanceUid}/kidney-volumes`;

function post(path: string, body: string, token?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) };
  return fetch(url(path), { method: 'POST', headers, body });
}

async function errorOf(response: Response): Promise<ErrorBody['error']> {
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return ((await response.json()) as ErrorBody).error;
}

/** Polls GET .../kidney-volumes (what an API user sees) until the status passes the test. */
async function statusUntil(test: (status: StudyStatus) => boolean, timeoutMs = 20_000): Promise<StudyStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: StatusBody | undefined;
  while (Date.now() < deadline) {
    // A kept-alive socket the server closed while this loaded process was stalled resets once: poll again.
    const answer = await fetch(url(`/studies/${study.orthancId}/kidney-volumes`), { headers: AUTH }).catch((error: unknown) => error as Error);
    if (answer instanceof Error) {
      if (!/ECONNRESET/.test(String(answer.cause))) throw answer;
      continue;
    }
    last = (await answer.json()) as StatusBody;
    if (last.status && test(last.status)) return last.status;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`status never matched within ${timeoutMs} ms; last: ${JSON.stringify(last)}\n${sidecar.stdout()}`);
}

describe('the sidecar HTTP API', () => {
  it('answers /health at once, /ready once it follows Orthanc, and Prometheus text at /metrics', async () => {
    const health = await fetch(url('/health'));
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    const deadline = Date.now() + 15_000;
    let ready = await fetch(url('/ready'));
    while (ready.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      ready = await fetch(url('/ready'));
    }
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true });

    const metrics = await fetch(url('/metrics'), { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    expect(text).toContain('# TYPE kidney_volumes_studies_done_total counter');
    expect(text).toMatch(/^kidney_volumes_studies_done_total 0$/m);
  });

  it('refuses marks without the right bearer token (401), and all marks when no token is configured (403)', async () => {
    const body = JSON.stringify(VOLUMES);
    const missing = await post(markPath(), body);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect((await errorOf(missing)).kind).toBe('unauthorized');
    for (const wrong of ['nope', 'test-tokeN']) {
      const refused = await post(markPath(), body, wrong);
      expect(refused.status).toBe(401);
      expect((await errorOf(refused)).kind).toBe('unauthorized');
    }
    expect(await orthanc.client.studyMetadata(study.orthancId, METADATA.pending)).toBeUndefined();

    const { server, base } = await appWithoutToken();
    try {
      const forbidden = await fetch(`${base}${markPath()}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body });
      expect(forbidden.status).toBe(403);
      const error = await errorOf(forbidden);
      expect(error.kind).toBe('forbidden');
      expect(error.message).toContain('KV_API_TOKEN');
      for (const path of [`/studies/${study.orthancId}/kidney-volumes`, '/metrics']) {
        const closed = await fetch(`${base}${path}`, { headers: AUTH });
        expect(closed.status).toBe(403);
        expect((await errorOf(closed)).message).toContain('KV_API_TOKEN');
      }
      const hook = await fetch(`${base}/hooks/orthanc`, { method: 'POST', headers: { 'x-kv-hook-token': HOOK_TOKEN } });
      expect(hook.status).toBe(403);
      expect((await errorOf(hook)).message).toContain('KV_HOOK_TOKEN');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('needs the token on every route but /health and /ready: status, /metrics (or KV_METRICS_TOKEN), the /events WebSocket (header or cookie, own Origin only)', async () => {
    const statusPath = `/studies/${study.orthancId}/kidney-volumes`;
    for (const path of [statusPath, '/metrics', '/no-such-route']) {
      const refused = await fetch(url(path));
      expect(refused.status, path).toBe(401);
      expect((await errorOf(refused)).kind).toBe('unauthorized');
    }
    expect((await fetch(url(statusPath), { headers: AUTH })).status).toBe(200);
    expect((await fetch(url(statusPath), { headers: { cookie: `other=1; kv_session=${sessionValue(TOKEN)}` } })).status).toBe(200);
    // The metrics token opens /metrics and nothing else.
    expect((await fetch(url('/metrics'), { headers: AUTH })).status).toBe(200);
    expect((await fetch(url(statusPath), { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(401);
    // A page elsewhere cannot use the cookie to change anything.
    const crossSite = await fetch(url(`${statusPath}/retry`), { method: 'POST', headers: { cookie: `kv_session=${sessionValue(TOKEN)}`, origin: 'https://evil.example' } });
    expect(crossSite.status).toBe(403);

    expect(await upgradeStatus({})).toBe(401);
    expect(await upgradeStatus({ authorization: 'Bearer wrong' })).toBe(401);
    expect(await upgradeStatus({ cookie: `kv_session=${sessionValue(TOKEN)}`, origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus({ ...AUTH, origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus({ cookie: `kv_session=${sessionValue(TOKEN)}`, origin: sidecar.url })).toBe(101);
  });

  it('takes the Lua wake-up only with KV_HOOK_TOKEN in X-KV-Hook-Token, and never reads the study a caller names', async () => {
    expect((await fetch(url('/hooks/orthanc'), { method: 'POST', body: study.orthancId })).status).toBe(401);
    expect((await fetch(url('/hooks/orthanc'), { method: 'POST', headers: { 'x-kv-hook-token': 'wrong' }, body: study.orthancId })).status).toBe(401);
    // The study was uploaded before the sidecar started (its feed begins at the head): only a hook
    // that trusted the body would make the sidecar look at it.
    const before = events.length;
    for (let i = 0; i < 5; i++) {
      const woken = await fetch(url('/hooks/orthanc'), { method: 'POST', headers: { 'x-kv-hook-token': HOOK_TOKEN }, body: study.orthancId });
      expect(woken.status).toBe(204);
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect(events.slice(before).filter((e) => e.studyId === study.orthancId)).toEqual([]);
  });

  it('answers the Lua wake-up before express as express did: other methods fall through to the API, a body streamed past 1 KB is refused', async () => {
    const hookHeaders = { 'x-kv-hook-token': HOOK_TOKEN };
    // Only POST is the wake-up; any other method is an API request like any unknown route.
    const get = await fetch(url('/hooks/orthanc'), { headers: hookHeaders });
    expect(get.status).toBe(401);
    expect(get.headers.get('www-authenticate')).toBe('Bearer');
    const put = await fetch(url('/hooks/orthanc'), { method: 'PUT', headers: { ...hookHeaders, ...AUTH } });
    expect(put.status).toBe(404);
    expect((await errorOf(put)).message).toBe('no route PUT /hooks/orthanc');
    // Express matched the path in any case, with one trailing slash, and with a query.
    for (const path of ['/HOOKS/Orthanc', '/hooks/orthanc/', '/hooks/orthanc?study=x']) {
      const woken = await fetch(url(path), { method: 'POST', headers: hookHeaders });
      expect(woken.status, path).toBe(204);
      expect(await woken.text()).toBe('');
    }
    expect((await fetch(url('/hooks/orthanc/x'), { method: 'POST', headers: { ...hookHeaders, ...AUTH } })).status).toBe(404);
    // A body without Content-Length is counted as it arrives.
    const chunks = [new Uint8Array(700).fill(120), new Uint8Array(700).fill(120)];
    const streamed = await fetch(url('/hooks/orthanc'), {
      method: 'POST',
      headers: hookHeaders,
      body: new ReadableStream<Uint8Array>({
        pull: (controller) => {
          const chunk = chunks.shift();
          if (chunk === undefined) controller.close();
          else controller.enqueue(chunk);
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(streamed.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await errorOf(streamed)).toEqual({ kind: 'bad-request', message: 'request body must be at most 1024 bytes' });
    // A body of exactly 1 KB, and a wrong token of the right length, as the script's header would carry it.
    expect((await fetch(url('/hooks/orthanc'), { method: 'POST', headers: hookHeaders, body: 'x'.repeat(1024) })).status).toBe(204);
    const sameLength = await fetch(url('/hooks/orthanc'), { method: 'POST', headers: { 'x-kv-hook-token': HOOK_TOKEN.replace(/.$/, '_') } });
    expect(sameLength.status).toBe(401);
    expect(await errorOf(sameLength)).toMatchObject({ kind: 'unauthorized', message: 'a valid x-kv-hook-token header is required' });
  });

  it('answers a server-side failure with a short message and an error ID, and logs the details under that ID', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) });
    const deadPort = await freePort();
    const app = createApp({
      client: new OrthancClient({ url: `http://127.0.0.1:${deadPort}`, retries: 0, timeoutMs: 2000 }),
      sidecar: { ready: true, wake: () => undefined },
      metrics: new SidecarMetrics({ defaultMetrics: false }),
      log: createLogger('info', sink),
      apiToken: TOKEN,
      now: () => new Date(),
    });
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address() as AddressInfo;
      const failed = await fetch(`http://127.0.0.1:${address.port}/studies/${study.orthancId}/kidney-volumes`, { headers: AUTH });
      expect(failed.status).toBe(502);
      const body = (await failed.json()) as { error: { kind: string; message: string; errorId: string } };
      expect(body.error.kind).toBe('orthanc-unreachable');
      expect(body.error.errorId).toMatch(/^[0-9a-f]{12}$/);
      expect(body.error.message).toBe(`Orthanc cannot be reached (error ID ${body.error.errorId}; the sidecar's log has the details)`);
      expect(body.error.message).not.toContain(String(deadPort));
      const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r['errorId'] === body.error.errorId);
      expect(logged?.['msg']).toContain(`127.0.0.1:${deadPort}`);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('rejects invalid measurements (422), oversized (413) or non-JSON (415) bodies and unknown studies (404) with JSON errors, and marks nothing', async () => {
    const invalid = await post(markPath(), JSON.stringify({ 'Right Kidney': '-5 ml', 'Left Kidney': '132 ml' }), TOKEN);
    expect(invalid.status).toBe(422);
    const error = await errorOf(invalid);
    expect(error.kind).toBe('invalid-measurements');
    expect(error.message).toContain('"Right Kidney": volume must be positive, got "-5 ml"');

    const huge = await post(markPath(), JSON.stringify({ ...VOLUMES, note: 'x'.repeat(65 * 1024) }), TOKEN);
    expect(huge.status).toBe(413);
    expect((await errorOf(huge)).message).toBe('request body must be at most 65536 bytes');

    const plain = await fetch(url(markPath()), { method: 'POST', headers: { 'content-type': 'text/plain', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(VOLUMES) });
    expect(plain.status).toBe(415);
    expect((await errorOf(plain)).message).toContain('got Content-Type "text/plain"');

    // The Lua hook only ever carries a study ID: its limit is far lower, and the message says so.
    const hook = await fetch(url('/hooks/orthanc'), { method: 'POST', headers: { 'x-kv-hook-token': HOOK_TOKEN }, body: 'x'.repeat(2048) });
    expect(hook.status).toBe(413);
    expect((await errorOf(hook)).message).toBe('request body must be at most 1024 bytes');

    const unknownUid = '1.2.826.0.1.3680043.99999.1';
    const unknown = await post(`/studies/${unknownUid}/kidney-volumes`, JSON.stringify(VOLUMES), TOKEN);
    expect(unknown.status).toBe(404);
    const notFound = await errorOf(unknown);
    expect(notFound.kind).toBe('not-found');
    expect(notFound.message).toContain(unknownUid);

    expect(await orthanc.client.studyMetadata(study.orthancId, METADATA.pending)).toBeUndefined();
  });

  it('accepts a mark by StudyInstanceUID (202), processes it to done with all three outputs, and streams the events', async () => {
    const accepted = await post(markPath(), JSON.stringify(VOLUMES), TOKEN);
    expect(accepted.status).toBe(202);
    const body = (await accepted.json()) as { studyId: string; digest: string; status: string };
    expect(body.studyId).toBe(study.orthancId);
    expect(body.status).toBe(`/studies/${study.orthancId}/kidney-volumes`);
    expect(accepted.headers.get('location')).toBe(body.status);

    const done = await statusUntil((s) => s.state === 'done' || s.state === 'failed');
    expect(done.state).toBe('done');
    expect(done.digest).toBe(body.digest);
    expect(Object.keys(done.outputs ?? {}).sort()).toEqual(['fhir', 'private', 'sr']);
    expect(done.measurements.map((m) => [m.name, m.valueMl])).toEqual([
      ['Right Kidney', '125'],
      ['Left Kidney', '132'],
    ]);
    await waitUntil(() => mine().includes('done'), 5_000, () => JSON.stringify(events));
    // The sidecar's own status writes come back through the feed after done: they are no state change.
    await new Promise((r) => setTimeout(r, 1500));
    expect(mine()).toEqual(['queued', 'processing', 'done']);
    // Each step's last report always goes out (the private copies of the study's images, the SR).
    expect(progressOf()).toContain('sr 1/1');
    expect(progressOf().some((p) => /^private (\d+)\/\1$/.test(p))).toBe(true);
    expect(await seriesCounts(orthanc.client, study.orthancId)).toEqual({ srInstances: 1, series: 3, instances: 5 });
  });

  it('processes a study again on POST .../retry (202), rewriting nothing because the outputs are idempotent', async () => {
    const first = await statusUntil((s) => s.state === 'done');
    const retried = await post(`/studies/${study.orthancId}/kidney-volumes/retry`, '', TOKEN);
    expect(retried.status).toBe(202);
    expect(((await retried.json()) as { previous: string }).previous).toBe('done');
    expect(retried.headers.get('location')).toBe(`/studies/${study.orthancId}/kidney-volumes`);

    const again = await statusUntil((s) => s.state === 'done' && s.finishedAt !== first.finishedAt);
    expect(again.attempts).toBe(1);
    expect(again.writes?.map((w) => [w.approach, w.alreadyPresent]).sort()).toEqual([
      ['fhir', true],
      ['private', true],
      ['sr', true],
    ]);
    expect(await seriesCounts(orthanc.client, study.orthancId)).toEqual({ srInstances: 1, series: 3, instances: 5 });
    await waitUntil(() => events.filter((e) => e.studyId === study.orthancId && e.kind === 'done').length === 2, 5_000, () => JSON.stringify(events));
    await new Promise((r) => setTimeout(r, 1500));
    expect(mine()).toEqual(['queued', 'processing', 'done', 'queued', 'processing', 'done']);
    expect(await (await fetch(url('/metrics'), { headers: AUTH })).text()).toMatch(/^kidney_volumes_studies_done_total 2$/m);
  });

  it('logs JSON lines naming the study, never the Orthanc password, and stops cleanly on SIGTERM with its cursor saved', async () => {
    const lines = sidecar.stdout().split('\n').filter((l) => l !== '');
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.some((r) => r['studyId'] === study.orthancId && r['event'] === 'done')).toBe(true);
    expect(sidecar.stdout() + sidecar.stderr()).not.toContain(SIDECAR_PASSWORD);
    // Each key once: a collector keeps either copy of a repeated key.
    const start = lines.find((l) => l.includes('"event":"start"')) ?? '';
    expect(start.match(/"replica":/g)).toHaveLength(1);
    expect(JSON.parse(start)).toMatchObject({ httpHost: '127.0.0.1' });

    const { code, ms } = await sidecar.stop(10_000);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);
    const cursor = JSON.parse(readFileSync(join(sidecar.stateDir, 'cursor.json'), 'utf8')) as { seq: unknown };
    expect(typeof cursor.seq).toBe('number');
    expect(cursor.seq).toBeGreaterThan(0);
    expect(cursor.seq).toBeLessThanOrEqual(await orthanc.client.lastChangeSeq());
    expect(sidecar.stdout()).toContain('"event":"stopped"');
  });
});

/** The same app in-process without KV_API_TOKEN (a second process would only cost time). */
async function appWithoutToken(): Promise<{ server: Server; base: string }> {
  const app = createApp({
    client: orthanc.client,
    sidecar: { ready: true, wake: () => undefined },
    metrics: new SidecarMetrics({ defaultMetrics: false }),
    log: createLogger('silent'),
    now: () => new Date(),
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return { server, base: `http://127.0.0.1:${address.port}` };
}

/** The HTTP status the /events upgrade answers with these headers (101 when the socket opens). */
function upgradeStatus(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(), { headers });
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', (error) => (ws.readyState === ws.CLOSED ? undefined : reject(error)));
  });
}

async function waitUntil(condition: () => boolean, timeoutMs: number, describeState: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${describeState()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
