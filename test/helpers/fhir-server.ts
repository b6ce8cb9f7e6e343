/**
 * A small FHIR R4 server for tests (node:http), since no real FHIR server can be installed here.
 * It does what the transaction sender relies on, the way R4 http.html specifies it:
 * - transactions (all or nothing; entries resolved before any is applied; `urn:uuid:` references
 *   rewritten to the ids assigned or found; response entries in request order);
 * - conditional create (`ifNoneExist`): no match creates, one match does nothing (200), more than one is 412;
 * - conditional update (`PUT Type?search`): no match creates, one match updates in place with a new
 *   version, more than one is 412; `ifMatch` (W/"n") that is not the current version is 412;
 * - search by `identifier` tokens (`system|value`, comma for OR, FHIR escapes), read and `_history`.
 * Every update makes a new version, as R4 allows (it never promises to skip an identical one), so a
 * client that must "change nothing" on a repeat has to leave the entry out.
 */
import type { Bundle, BundleEntry, Identifier, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One stored version of a resource. */
type Stored = Resource & { id: string; meta: { versionId: string; lastUpdated: string } };

/** A request the server received, for assertions. */
export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
}

/** A running test FHIR server. */
export interface TestFhirServer {
  /** The base URL, e.g. http://127.0.0.1:1234/fhir. */
  readonly base: string;
  readonly requests: ReceivedRequest[];
  /** Current versions of every resource of a type. */
  current(type: string): Stored[];
  /** Every version of one resource, oldest first. */
  history(type: string, id: string): Stored[];
  /** Adds a resource as if another system had written it (for the >1 match case). */
  seed(resource: Resource): Stored;
  stop(): Promise<void>;
}

class FhirError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Splits on a separator that is not escaped with a backslash (R4 search.html#escaping). */
function splitUnescaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\' && i + 1 < text.length) {
      current += c + (text[i + 1] as string);
      i++;
    } else if (c === separator) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

const unescape = (text: string): string => text.replace(/\\([\\|,$])/g, '$1');

/** Does the resource match `identifier=<tokens>`? Tokens are `system|value`, `|value` or `value`, ORed by commas. */
function matchesIdentifier(resource: Resource, tokens: string): boolean {
  const identifiers = ((resource as { identifier?: Identifier[] }).identifier ?? []) as Identifier[];
  return splitUnescaped(tokens, ',').some((token) => {
    const parts = splitUnescaped(token, '|');
    const [system, value] = parts.length === 1 ? [undefined, unescape(parts[0] as string)] : [unescape(parts[0] as string), unescape(parts.slice(1).join('|'))];
    return identifiers.some((i) => i.value === value && (system === undefined || (system === '' ? i.system === undefined : i.system === system)));
  });
}

/** Starts the server on a free loopback port. */
export async function startFhirServer(): Promise<TestFhirServer> {
  let store = new Map<string, Map<string, Stored[]>>();
  let nextId = 1;
  const requests: ReceivedRequest[] = [];
  let clock = Date.parse('2030-01-01T00:00:00Z');

  const table = (s: Map<string, Map<string, Stored[]>>, type: string): Map<string, Stored[]> => {
    let t = s.get(type);
    if (t === undefined) s.set(type, (t = new Map()));
    return t;
  };
  const latest = (versions: Stored[]): Stored => versions[versions.length - 1] as Stored;
  const search = (s: Map<string, Map<string, Stored[]>>, type: string, query: string): Stored[] => {
    const params = new URLSearchParams(query);
    const unknown = [...params.keys()].filter((k) => k !== 'identifier' && k !== '_count');
    if (unknown.length > 0) throw new FhirError(400, `search parameter ${unknown.join(', ')} is not supported here`);
    const tokens = params.getAll('identifier');
    return [...table(s, type).values()].map(latest).filter((r) => tokens.every((t) => matchesIdentifier(r, t)));
  };
  const write = (s: Map<string, Map<string, Stored[]>>, type: string, id: string, resource: Resource): Stored => {
    const versions = table(s, type).get(id) ?? [];
    clock += 1000;
    const stored = { ...structuredClone(resource), id, meta: { versionId: String(versions.length + 1), lastUpdated: new Date(clock).toISOString() } } as Stored;
    table(s, type).set(id, [...versions, stored]);
    return stored;
  };

  function transaction(bundle: Bundle): Bundle {
    if (bundle.resourceType !== 'Bundle' || bundle.type !== 'transaction') throw new FhirError(400, 'expected a transaction Bundle');
    const working = new Map([...store].map(([type, t]) => [type, new Map(t)] as const));
    const entries = bundle.entry ?? [];
    // Resolve every entry first (R4 transaction processing rules), so references can be rewritten.
    type Plan = { kind: 'create' | 'update' | 'found'; type: string; id: string; entry: BundleEntry };
    const plans: Plan[] = entries.map((entry, i): Plan => {
      const request = entry.request;
      const resource = entry.resource;
      if (!request || !resource) throw new FhirError(400, `entry ${i} needs a request and a resource`);
      const type = resource.resourceType;
      if (request.method === 'POST') {
        if (request.url !== type) throw new FhirError(400, `entry ${i}: POST url ${request.url} is not ${type}`);
        const found = request.ifNoneExist ? search(working, type, request.ifNoneExist) : [];
        if (found.length > 1) throw new FhirError(412, `entry ${i}: ifNoneExist ${request.ifNoneExist} matches ${found.length} resources`);
        return found.length === 1 ? { kind: 'found', type, id: (found[0] as Stored).id, entry } : { kind: 'create', type, id: String(nextId++), entry };
      }
      if (request.method === 'PUT') {
        const [path, query] = request.url.split('?', 2) as [string, string | undefined];
        if (query === undefined) {
          const [t, id] = path.split('/');
          if (t !== type || !id) throw new FhirError(400, `entry ${i}: PUT url ${request.url} is not ${type}/id`);
          return { kind: table(working, type).has(id) ? 'update' : 'create', type, id, entry };
        }
        if (path !== type) throw new FhirError(400, `entry ${i}: PUT url ${request.url} is not ${type}?search`);
        const found = search(working, type, query);
        if (found.length > 1) throw new FhirError(412, `entry ${i}: conditional update ${request.url} matches ${found.length} resources`);
        const [match] = found;
        if (request.ifMatch !== undefined && request.ifMatch !== `W/"${match?.meta.versionId ?? ''}"`) {
          throw new FhirError(412, `entry ${i}: ifMatch ${request.ifMatch} but the current version is ${match ? `W/"${match.meta.versionId}"` : 'none'}`);
        }
        return match ? { kind: 'update', type, id: match.id, entry } : { kind: 'create', type, id: String(nextId++), entry };
      }
      throw new FhirError(400, `entry ${i}: method ${request.method} is not supported here`);
    });
    const target = new Map(plans.filter((p) => p.entry.fullUrl).map((p) => [p.entry.fullUrl as string, `${p.type}/${p.id}`] as const));
    const rewrite = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(rewrite);
      if (value !== null && typeof value === 'object') {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === 'reference' && typeof v === 'string' ? (target.get(v) ?? v) : rewrite(v)]));
      }
      return value;
    };
    const response = plans.map((p): BundleEntry => {
      if (p.kind === 'found') {
        const current = latest(table(working, p.type).get(p.id) as Stored[]);
        return { response: { status: '200 OK', location: `${p.type}/${p.id}/_history/${current.meta.versionId}`, etag: `W/"${current.meta.versionId}"` } };
      }
      const stored = write(working, p.type, p.id, rewrite(p.entry.resource) as Resource);
      const status = p.kind === 'create' ? '201 Created' : '200 OK';
      return { response: { status, location: `${p.type}/${p.id}/_history/${stored.meta.versionId}`, etag: `W/"${stored.meta.versionId}"`, lastModified: stored.meta.lastUpdated } };
    });
    store = working;
    return { resourceType: 'Bundle', type: 'transaction-response', entry: response };
  }

  function handle(method: string, url: URL, body: string): unknown {
    const path = url.pathname.replace(/^\/fhir\/?/, '');
    if (method === 'POST' && path === '') return transaction(JSON.parse(body) as Bundle);
    const [type, id, history] = path.split('/');
    if (method === 'GET' && type && !id) {
      const found = search(store, type, url.search.slice(1));
      return { resourceType: 'Bundle', type: 'searchset', total: found.length, entry: found.map((r) => ({ fullUrl: `${type}/${r.id}`, resource: r, search: { mode: 'match' } })) };
    }
    const versions = type && id ? store.get(type)?.get(id) : undefined;
    if (method === 'GET' && versions && history === '_history') {
      return { resourceType: 'Bundle', type: 'history', total: versions.length, entry: [...versions].reverse().map((r) => ({ resource: r })) };
    }
    if (method === 'GET' && versions && history === undefined) return latest(versions);
    throw new FhirError(404, `no ${method} ${url.pathname}`);
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
      let status = 200;
      let answer: unknown;
      try {
        answer = handle(req.method ?? '', new URL(req.url ?? '/', 'http://localhost'), body);
      } catch (error) {
        status = error instanceof FhirError ? error.status : 500;
        const outcome: OperationOutcome = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing', diagnostics: (error as Error).message }] };
        answer = outcome;
      }
      res.writeHead(status, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}/fhir`,
    requests,
    current: (type) => [...(store.get(type)?.values() ?? [])].map(latest),
    history: (type, id) => [...(store.get(type)?.get(id) ?? [])],
    seed: (resource) => write(store, resource.resourceType, String(nextId++), resource),
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
