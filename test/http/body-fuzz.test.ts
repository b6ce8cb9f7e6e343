/**
 * Fuzz and property-based tests of the HTTP bodies the sidecar parses from others (issue 12, "Hunt
 * for the next ones"): POST /studies/{id}/kidney-volumes, its retry route, and the dashboard's
 * login, built in-process by createApp with the real dashboard router against a real Orthanc.
 * A fixed seed and a bounded number of runs keep them deterministic; raise KV_FUZZ_RUNS to search
 * longer. Each case they found is a named regression test at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { dashboardRouter } from '../../src/http/dashboard/router.js';
import { IndexFeed } from '../../src/index/feed.js';
import { StudyIndex } from '../../src/index/store.js';
import { createLogger } from '../../src/log.js';
import { MAX_PAYLOAD_BYTES, parseMeasurementsObject } from '../../src/measurements/parse.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { SidecarMetrics } from '../../src/sidecar/metrics.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

// Each run is a few HTTP round trips to the sidecar and Orthanc: a smaller default than the pure parser's.
const RUNS = Number(process.env['KV_FUZZ_RUNS'] ?? 60);
const PARAMS = { seed: 20261129, numRuns: RUNS, endOnFailure: true } as const;
const TOKEN = 'fuzz-token';

/** What a refused body may be answered with: never a 5xx. */
const REFUSALS = [400, 401, 404, 413, 415, 422];

/** One request body as sent on the wire, and the Content-Type it claims (undefined: no header). */
interface Body {
  readonly bytes: Uint8Array;
  readonly contentType: string | undefined;
}

let server: Server;
let base: string;
let stateDir: string;
let index: StudyIndex;
/** A study that never holds a mark except while a property checks an accepted body. */
let studyId: string;
let studyUid: string;

const orthanc = useOrthanc();
beforeAll(async () => {
  const study = await uploadStudy(orthanc.client, ctStudy(1));
  studyId = study.orthancId;
  studyUid = study.studyInstanceUid;
  stateDir = mkdtempSync(join(tmpdir(), 'kv-body-fuzz-'));
  const now = (): Date => new Date();
  const log = createLogger('silent');
  const metrics = new SidecarMetrics({ defaultMetrics: false });
  const sidecar = { ready: true, wake: () => undefined };
  index = StudyIndex.open(stateDir, now);
  // The real feed, never started: the login route does not read it.
  const feed = new IndexFeed({ client: orthanc.client, index, log, pollIntervalMs: 1000, now });
  const dashboard = dashboardRouter({ client: orthanc.client, index, feed, metrics, sidecar, log, apiToken: TOKEN, replicaId: 'fuzz', orthancPublicUrl: orthanc.url, now });
  const app = createApp({ client: orthanc.client, sidecar, metrics, log, apiToken: TOKEN, now, dashboard });
  server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  if (server) await new Promise((r) => server.close(r));
  index?.close();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

async function send(path: string, body: Body, headers: Record<string, string> = {}): Promise<Response> {
  const all: Record<string, string> = { ...headers };
  if (body.contentType !== undefined) all['content-type'] = body.contentType;
  return fetch(`${base}${path}`, { method: 'POST', headers: all, body: body.bytes });
}

/** Checks a refusal: a 4xx from REFUSALS with a JSON `{error: {kind, message}}`. */
async function expectRefusal(response: Response, context: string): Promise<{ kind: string; message: string }> {
  expect(REFUSALS, `${context}: status ${response.status}`).toContain(response.status);
  expect(response.headers.get('content-type'), context).toMatch(/^application\/json/);
  const json = (await response.json()) as { error?: { kind?: unknown; message?: unknown } };
  expect(typeof json.error?.kind, context).toBe('string');
  expect(typeof json.error?.message, context).toBe('string');
  expect((json.error?.message as string).length, context).toBeGreaterThan(0);
  return json.error as { kind: string; message: string };
}

async function pendingMark(): Promise<string | undefined> {
  return (await orthanc.client.studyMetadata(studyId, METADATA.pending))?.value;
}

async function clearMark(): Promise<void> {
  if ((await pendingMark()) !== undefined) await orthanc.client.deleteStudyMetadata(studyId, METADATA.pending);
}

/** The server is still up and answering: a crash or a hung event loop would fail this. */
async function expectAlive(): Promise<void> {
  const health = await fetch(`${base}/health`);
  expect(health.status).toBe(200);
}

// ---- Generators ----------------------------------------------------------------------------

const NAMES = ['Right Kidney', 'Left Kidney', 'Spleen', 'Liver', 'right kidney', 'Total Kidney Volume', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype', 'valueOf'];
const VALUE_TEXTS = ['125 ml', '132 mL', '0.5 l', '12 toString', '12 constructor', '12 __proto__', '12 ml ml', ' 12 ml', '1e3 ml', '12', '12 cm3', '-5 ml', '0 ml', 'NaN ml', 'Infinity ml', '12,5 ml', '0x10 ml', '12\u00a0ml', '１２ ml', '5001 ml'];

/** A measurement value as a JSON value: mostly strings that are almost right, sometimes other types. */
const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...VALUE_TEXTS) },
  { weight: 2, arbitrary: fc.tuple(fc.double({ noNaN: true }), fc.constantFrom(' ml', 'ml', ' l', ' cl', ' toString', ' constructor', '', ' mm3')).map(([n, u]) => `${n}${u}`) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

/** Map-form bodies as JSON text, written by hand so keys may repeat and __proto__ stays a plain key. */
const mapTextArb = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 12 })), valueArb), { minLength: 0, maxLength: 5 })
  .map((pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`);

/** Structured-form bodies, with the same near-miss values and sometimes foreign keys. */
const structuredTextArb = fc
  .array(
    fc.record(
      { name: fc.constantFrom(...NAMES), value: valueArb, unit: fc.constantFrom('ml', 'mL', 'l', 'toString', 'cm3', '__proto__'), extra: fc.constantFrom('__proto__', 'constructor', 'anatomy', 'method') },
      { requiredKeys: ['name', 'value'] },
    ),
    { maxLength: 4 },
  )
  .map((entries) => `{"measurements":[${entries.map((e) => `{${Object.entries(e).map(([k, v]) => `${JSON.stringify(k === 'extra' ? String(v) : k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`).join(',')}]}`);

/** JSON nested `depth` levels deep, as arrays or as objects under a measurement name. */
const deepTextArb = fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.boolean()).map(([depth, asObject]) =>
  asObject ? `${'{"Right Kidney":'.repeat(depth)}"125 ml"${'}'.repeat(depth)}` : `${'['.repeat(depth)}${']'.repeat(depth)}`,
);

/** Valid measurements padded to a total size around the payload limit (the pad is a foreign key or a long value). */
const hugeTextArb = fc.tuple(fc.integer({ min: -64, max: 64 }), fc.constantFrom('note', 'Right Kidney', '__proto__')).map(([delta, key]) => {
  const head = `{"Left Kidney":"132 ml",${JSON.stringify(key)}:"`;
  const tail = '"}';
  return `${head}${'x'.repeat(Math.max(0, MAX_PAYLOAD_BYTES + delta - head.length - tail.length))}${tail}`;
});

const textArb = fc.oneof(
  { weight: 4, arbitrary: mapTextArb },
  { weight: 2, arbitrary: structuredTextArb },
  { weight: 2, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: deepTextArb },
  { weight: 1, arbitrary: hugeTextArb },
);

/** Content types that carry UTF-8 (the ones an accepted body's exact values are checked against). */
const UTF8_TYPES = ['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/fhir+json', 'application/json; charset="UTF-8"'];
const OTHER_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  '',
  'json',
  'application/jsonx',
  'application/json; charset=latin1',
  'application/json; charset=utf-16le',
  'application/json; charset=koi8-r',
  'application/json; charset=nope',
  'application/octet-stream',
];
const contentTypeArb = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...UTF8_TYPES) }, { weight: 1, arbitrary: fc.constantFrom<string | undefined>(undefined, ...OTHER_TYPES) });

const bodyArb: fc.Arbitrary<Body> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ bytes: textArb.map(utf8), contentType: contentTypeArb }) },
  { weight: 1, arbitrary: fc.record({ bytes: fc.uint8Array({ maxLength: 300 }), contentType: contentTypeArb }) },
  { weight: 1, arbitrary: fc.record({ bytes: fc.uint8Array({ minLength: MAX_PAYLOAD_BYTES - 8, maxLength: MAX_PAYLOAD_BYTES + 8 }), contentType: contentTypeArb }) },
);

const isUtf8Type = (type: string | undefined): boolean => type !== undefined && UTF8_TYPES.includes(type);

/** What a JSON body decodes to as the server's body parser reads UTF-8 (a leading BOM is dropped). */
function decodedJson(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

// ---- Properties ----------------------------------------------------------------------------

describe('POST /studies/{id}/kidney-volumes under arbitrary bodies', () => {
  it('refuses a bad body with a 4xx JSON error and no mark, and stores an accepted body exactly as sent', async () => {
    const seen = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(bodyArb, fc.constantFrom('id', 'uid'), async (body, by) => {
        await clearMark();
        const response = await send(`/studies/${by === 'id' ? studyId : studyUid}/kidney-volumes`, body, { authorization: `Bearer ${TOKEN}` });
        const context = `${body.contentType} ${body.bytes.length} bytes: ${Buffer.from(body.bytes.slice(0, 120)).toString('utf8')}`;
        if (response.status !== 202) {
          seen.refused++;
          await expectRefusal(response, context);
          expect(await pendingMark(), context).toBeUndefined();
          return;
        }
        seen.accepted++;
        const answer = (await response.json()) as { studyId: string; digest: string; measurements: unknown };
        expect(answer.studyId).toBe(studyId);
        expect(body.bytes.length).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
        const stored = await pendingMark();
        expect(stored, context).toBeDefined();
        // The mark parses back to the set the API answered with...
        const set = parseMeasurementsObject(JSON.parse(stored as string));
        expect(set.digest).toBe(answer.digest);
        expect(set.measurements).toEqual(answer.measurements);
        // ...and to exactly the JSON value sent (a repeated key keeps its last value, as JSON.parse does).
        if (isUtf8Type(body.contentType)) {
          const sent = decodedJson(body.bytes);
          expect(sent.ok, context).toBe(true);
          if (sent.ok) expect(stored).toBe(JSON.stringify(sent.value));
        }
        await clearMark();
      }),
      PARAMS,
    );
    // Both branches must have run, or the property checked less than it claims.
    expect(seen.accepted).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(seen.accepted);
    await expectAlive();
  }, 600_000);

  it('refuses any body without the bearer token (401) before reading it, and marks nothing', async () => {
    await fc.assert(
      fc.asyncProperty(bodyArb, fc.constantFrom<Record<string, string>>({}, { authorization: 'Bearer wrong' }, { authorization: TOKEN }, { authorization: `Basic ${TOKEN}` }), async (body, headers) => {
        const response = await send(`/studies/${studyId}/kidney-volumes`, body, headers);
        expect(response.status).toBe(401);
        await expectRefusal(response, JSON.stringify(headers));
        expect(await pendingMark()).toBeUndefined();
      }),
      { ...PARAMS, numRuns: Math.ceil(RUNS / 3) },
    );
  }, 600_000);

  it('answers 413 exactly when a JSON body is over the limit', async () => {
    await fc.assert(
      fc.asyncProperty(hugeTextArb, async (text) => {
        const bytes = utf8(text);
        const response = await send(`/studies/${studyId}/kidney-volumes`, { bytes, contentType: 'application/json' }, { authorization: `Bearer ${TOKEN}` });
        if (bytes.length > MAX_PAYLOAD_BYTES) {
          expect(response.status).toBe(413);
          expect((await expectRefusal(response, `${bytes.length}`)).message).toBe(`request body must be at most ${MAX_PAYLOAD_BYTES} bytes`);
        } else {
          // Within the limit the padding key is what the parser refuses (or, for "Right Kidney", the value).
          expect(response.status).toBe(422);
          await expectRefusal(response, `${bytes.length}`);
        }
        expect(await pendingMark()).toBeUndefined();
      }),
      { ...PARAMS, numRuns: Math.ceil(RUNS / 3) },
    );
  }, 600_000);
});

describe('POST /studies/{id}/kidney-volumes/retry under arbitrary bodies', () => {
  it('ignores the body: refuses a study without a mark (400) and writes none', async () => {
    await fc.assert(
      fc.asyncProperty(bodyArb, async (body) => {
        const response = await send(`/studies/${studyId}/kidney-volumes/retry`, body, { authorization: `Bearer ${TOKEN}` });
        const error = await expectRefusal(response, `${body.contentType} ${body.bytes.length}`);
        expect(response.status).toBe(400);
        expect(error.message).toContain('nothing to retry');
        expect(await pendingMark()).toBeUndefined();
      }),
      { ...PARAMS, numRuns: Math.ceil(RUNS / 2) },
    );
  }, 600_000);

  it('ignores the body of a retry of a marked study (202) and leaves its mark as it was', async () => {
    const mark = JSON.stringify({ 'Right Kidney': '125 ml' });
    await orthanc.client.setStudyMetadata(studyId, METADATA.pending, mark);
    try {
      await fc.assert(
        fc.asyncProperty(bodyArb, async (body) => {
          const response = await send(`/studies/${studyId}/kidney-volumes/retry`, body, { authorization: `Bearer ${TOKEN}` });
          expect(response.status).toBe(202);
          expect(await pendingMark()).toBe(mark);
        }),
        { ...PARAMS, numRuns: Math.ceil(RUNS / 3) },
      );
    } finally {
      await clearMark();
    }
  }, 600_000);
});

describe('POST /dashboard/login under arbitrary bodies', () => {
  const loginTextArb = fc.oneof(
    { weight: 3, arbitrary: textArb },
    { weight: 2, arbitrary: fc.record({ token: fc.oneof(fc.constantFrom<unknown>(TOKEN, `${TOKEN} `, TOKEN.toUpperCase(), [TOKEN], { toString: TOKEN }, null, 1), fc.string()) }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.constantFrom(`{"token":"wrong","token":"${TOKEN}"}`, `{"token":"${TOKEN}","token":"wrong"}`, `{"__proto__":{"token":"${TOKEN}"}}`, `{"constructor":{"prototype":{"token":"${TOKEN}"}}}`) },
    { weight: 1, arbitrary: fc.integer({ min: 4096 - 40, max: 4096 + 40 }).map((n) => `{"token":"${TOKEN}","pad":"${'x'.repeat(Math.max(0, n - TOKEN.length - 21))}"}`) },
  );
  const loginBodyArb = fc.oneof(
    { weight: 5, arbitrary: fc.record({ bytes: loginTextArb.map(utf8), contentType: contentTypeArb }) },
    { weight: 1, arbitrary: fc.record({ bytes: fc.uint8Array({ maxLength: 300 }), contentType: contentTypeArb }) },
  );

  // The login reads application/json only, and (like every express.json) in a UTF charset only.
  const LOGIN_TYPES = UTF8_TYPES.filter((t) => !t.includes('fhir'));

  it('logs in only a JSON body whose own "token" is the API token, and refuses the rest with a 4xx JSON error', async () => {
    await fc.assert(
      fc.asyncProperty(loginBodyArb, async (body) => {
        const response = await send('/dashboard/login', body, { origin: base });
        const sent = body.contentType !== undefined && LOGIN_TYPES.includes(body.contentType) && body.bytes.length <= 4096 ? decodedJson(body.bytes) : { ok: false as const };
        const good = sent.ok && typeof sent.value === 'object' && sent.value !== null && Object.hasOwn(sent.value, 'token') && (sent.value as { token: unknown }).token === TOKEN;
        const context = `${body.contentType} ${Buffer.from(body.bytes.slice(0, 120)).toString('utf8')}`;
        if (good) {
          expect(response.status, context).toBe(204);
          expect(response.headers.get('set-cookie'), context).toMatch(/^kv_session=/);
        } else {
          await expectRefusal(response, context);
          expect(response.headers.get('set-cookie'), context).toBeNull();
        }
      }),
      PARAMS,
    );
    await expectAlive();
  }, 600_000);
});

// ---- Named regression tests: the cases the properties above found or were written to reach ----

describe('regressions found by the body fuzzing', () => {
  const auth = { authorization: `Bearer ${TOKEN}` };
  const json = (text: string, contentType = 'application/json'): Body => ({ bytes: utf8(text), contentType });

  it('refuses a login in an ASCII-compatible non-UTF charset with 415, as the mark route does (found by the login property)', async () => {
    // The property first assumed koi8-r would decode the ASCII token; express.json reads UTF-8/16/32 only.
    for (const path of ['/dashboard/login', `/studies/${studyId}/kidney-volumes`]) {
      const response = await send(path, json(`{"token":"${TOKEN}"}`, 'application/json; charset=koi8-r'), { origin: base, ...auth });
      expect(response.status).toBe(415);
      await expectRefusal(response, path);
      expect(response.headers.get('set-cookie')).toBeNull();
    }
    expect(await pendingMark()).toBeUndefined();
  });

  it('refuses measurements nested 3000 objects deep (just under the size limit) with 422, without a stack overflow', async () => {
    const response = await send(`/studies/${studyId}/kidney-volumes`, json(`${'{"Right Kidney":'.repeat(3000)}"125 ml"${'}'.repeat(3000)}`), auth);
    expect(response.status).toBe(422);
    expect((await expectRefusal(response, 'deep')).kind).toBe('invalid-measurements');
    expect(await pendingMark()).toBeUndefined();
    await expectAlive();
  });

  it('keeps "__proto__" a plain measurement name: the mark holds it exactly, and no prototype is polluted', async () => {
    try {
      const text = '{"__proto__":"125 ml"}';
      const response = await send(`/studies/${studyId}/kidney-volumes`, json(text), auth);
      expect(response.status).toBe(202);
      const answer = (await response.json()) as { measurements: { name: string; valueMl: string }[] };
      expect(answer.measurements.map((m) => [m.name, m.valueMl])).toEqual([['__proto__', '125']]);
      expect(await pendingMark()).toBe(text);
      await clearMark();
      for (const bad of ['{"__proto__":{"polluted":"125 ml"}}', '{"constructor":{"prototype":{"polluted":"1 ml"}}}', '{"measurements":[{"name":"x","value":"1","unit":"ml","__proto__":{"polluted":1}}]}']) {
        const refused = await send(`/studies/${studyId}/kidney-volumes`, json(bad), auth);
        expect(refused.status, bad).toBe(422);
        await expectRefusal(refused, bad);
        expect(await pendingMark()).toBeUndefined();
      }
      expect((Object.prototype as Record<string, unknown>)['polluted']).toBeUndefined();
    } finally {
      await clearMark();
    }
  });

  it('refuses a number with an almost-unit such as "12 toString" (422) and marks nothing', async () => {
    for (const value of ['12 toString', '12 constructor', '12 __proto__', '12 ml ml']) {
      const response = await send(`/studies/${studyId}/kidney-volumes`, json(JSON.stringify({ 'Right Kidney': value })), auth);
      expect(response.status, value).toBe(422);
      const error = await expectRefusal(response, value);
      expect(error.kind).toBe('invalid-measurements');
      expect(error.message).toContain('"Right Kidney"');
      expect(await pendingMark()).toBeUndefined();
    }
  });

  it('stores a body with a repeated key as the value JSON.parse keeps (the last), the same the API answered', async () => {
    try {
      const response = await send(`/studies/${studyId}/kidney-volumes`, json('{"Right Kidney":"999 ml","Right Kidney":"125 ml"}'), auth);
      expect(response.status).toBe(202);
      const answer = (await response.json()) as { measurements: { valueMl: string }[] };
      expect(answer.measurements.map((m) => m.valueMl)).toEqual(['125']);
      expect(await pendingMark()).toBe('{"Right Kidney":"125 ml"}');
    } finally {
      await clearMark();
    }
  });
});
