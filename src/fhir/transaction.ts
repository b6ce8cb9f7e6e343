/**
 * Sends the Bundle to a FHIR server as one transaction (FHIR R4 http.html#transaction).
 *
 * The Patient and the ImagingStudy are conditional creates (`ifNoneExist`): they may belong to the
 * EHR or the PACS's own FHIR feed, so they are created when missing and never overwritten. Each
 * Observation is a conditional update by its identifier (`PUT Observation?identifier=system|value`):
 * no match creates it, one match updates it in place (a new version in the server's history), and
 * more than one is refused with 412, so the server holds one resource per measurement.
 *
 * R4 has no "update only if different": a PUT of the same content still makes a new version on
 * most servers, and a conditional create never updates. So the sender first searches the server
 * for the Observations' identifiers and leaves out each one the server already holds in this
 * version (same status, `issued` and value: every change this program makes re-stamps `issued`);
 * a changed one is sent with `ifMatch` on the version it read, so a concurrent writer makes the
 * transaction fail (412) instead of being overwritten unseen. Sending the same version twice thus
 * changes nothing, and a server that missed a version is brought up to date by the next send.
 */
import type { Got } from 'got';
import type { Bundle, BundleEntry, Identifier, Observation, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { FhirInputError, FhirServerError } from './errors.js';
import { serializeResource } from './serialize.js';

/** Escapes a token part for a FHIR search (R4 search.html#escaping), then for a URL query. */
function searchToken(part: string): string {
  const fhirEscaped = part.replace(/[\\|,$]/g, (c) => `\\${c}`);
  // Percent-encode for the query string, but keep ':' '/' '|' readable: they are legal in a query
  // and every server reads `identifier=urn:oid:1.2|123` the same either way.
  return encodeURIComponent(fhirEscaped).replace(/%3A/g, ':').replace(/%2F/g, '/').replace(/%7C/g, '|');
}

/** The identifier a conditional create searches by: the resource's first one with a system and a value. */
function conditionalIdentifier(resource: Resource): Required<Pick<Identifier, 'system' | 'value'>> {
  const identifiers = (resource as { identifier?: Identifier[] }).identifier ?? [];
  const found = identifiers.find((i) => i.system && i.value);
  if (!found?.system || !found.value) {
    throw new FhirInputError(`${resource.resourceType}.identifier`, JSON.stringify(identifiers), 'needs one with a system and a value for a conditional create');
  }
  return { system: found.system, value: found.value };
}

/** The `ifNoneExist` search for a resource, e.g. `identifier=urn:dicom:uid|urn:oid:1.2.3`. */
export function ifNoneExistFor(resource: Resource): string {
  const { system, value } = conditionalIdentifier(resource);
  return `identifier=${searchToken(system)}|${searchToken(value)}`;
}

/** The conditional-update URL of a resource, e.g. `Observation?identifier=urn:kidney-volumes:observation|<uuid>`. */
export function conditionalUrlFor(resource: Resource): string {
  return `${resource.resourceType}?${ifNoneExistFor(resource)}`;
}

/** The value of an Observation's first identifier with a system and a value, the one conditional requests search by. */
function identifierKey(resource: Resource): string {
  const { system, value } = conditionalIdentifier(resource);
  return `${system}|${value}`;
}

/** True when the server's copy is this version of the Observation (see the module comment). */
function sameVersion(ours: Observation, theirs: Observation): boolean {
  return ours.status === theirs.status && ours.issued === theirs.issued && ours.valueQuantity?.value === theirs.valueQuantity?.value;
}

/** A transaction and how many Observations it leaves out because the server holds them in this version already. */
export interface TransactionPlan {
  readonly transaction: Bundle;
  readonly unchanged: number;
}

/** The collection Bundle as a transaction that sends every Observation (nothing known about the server). */
export function toTransaction(bundle: Bundle): Bundle {
  return planTransaction(bundle, undefined).transaction;
}

/**
 * The collection Bundle as a transaction against what the server holds for the Observations'
 * identifiers (readServerObservations): Observations it holds in this version are left out, and so
 * are withdrawn ones it never held (there is nothing to retract). `undefined`: nothing known, all sent.
 */
export function planTransaction(bundle: Bundle, onServer: ReadonlyMap<string, readonly Observation[]> | undefined): TransactionPlan {
  let unchanged = 0;
  const entry = (bundle.entry ?? []).flatMap((e): BundleEntry[] => {
    if (!e.resource || !e.fullUrl) throw new FhirInputError('bundle entry', JSON.stringify(e).slice(0, 200), 'needs a fullUrl and a resource');
    // The urn:uuid fullUrls stay: the server rewrites references to them to the ids it assigns (or finds).
    const { fullUrl, resource } = e;
    if (resource.resourceType !== 'Observation') {
      return [{ fullUrl, resource, request: { method: 'POST', url: resource.resourceType, ifNoneExist: ifNoneExistFor(resource) } }];
    }
    const theirs = onServer?.get(identifierKey(resource)) ?? [];
    const [only] = theirs;
    const neverHeld = onServer !== undefined && theirs.length === 0 && resource.status === 'entered-in-error';
    if (neverHeld || (theirs.length === 1 && only !== undefined && sameVersion(resource, only))) {
      unchanged += 1;
      return [];
    }
    // One version read: update exactly that one. None or several: let the server create or refuse (412).
    const versionId: unknown = theirs.length === 1 ? only?.meta?.versionId : undefined;
    const version = typeof versionId === 'string' && /^[A-Za-z0-9.-]{1,64}$/.test(versionId) ? versionId : undefined;
    return [{ fullUrl, resource, request: { method: 'PUT', url: conditionalUrlFor(resource), ...(version !== undefined ? { ifMatch: `W/"${version}"` } : {}) } }];
  });
  return { transaction: { resourceType: 'Bundle', type: 'transaction', entry }, unchanged };
}

/** What the server did with one entry. */
export interface TransactionEntryResult {
  readonly resourceType: string;
  readonly fullUrl: string | undefined;
  /** The entry's response.status as the server wrote it, e.g. "201 Created" or "200 OK". */
  readonly status: string;
  /** True when the server created the resource. */
  readonly created: boolean;
  /** True when a conditional update changed a resource the server had (a new version of it). */
  readonly updated: boolean;
  readonly location: string | undefined;
}

/** The outcome of a transaction the server accepted. */
export interface TransactionResult {
  readonly entries: readonly TransactionEntryResult[];
  /** How many resources were created; 0 when everything was already there. */
  readonly created: number;
  /** How many resources were updated in place. */
  readonly updated: number;
}

/** Options of `postTransaction`. */
export interface PostTransactionOptions {
  /** Bearer token for the Authorization header. */
  readonly token?: string;
  /** The HTTP client, injectable for tests and for shared agents; defaults to `got`. */
  readonly got?: Got;
  /** Whole-request timeout in milliseconds; default 30 s. */
  readonly timeoutMs?: number;
}

/** The text of an OperationOutcome's issues (diagnostics, else details.text), or the body itself. */
export function outcomeText(body: string): string {
  try {
    const parsed = JSON.parse(body) as Partial<OperationOutcome>;
    if (parsed.resourceType === 'OperationOutcome') {
      const texts = (parsed.issue ?? []).map((i) => i.diagnostics ?? i.details?.text ?? i.code).filter((t) => t);
      if (texts.length > 0) return texts.join('; ');
    }
  } catch {
    // Not JSON (a proxy's HTML error page): the raw text below is the best we have.
  }
  return body.trim().slice(0, 500);
}

/**
 * got, loaded on the first send: `attach` and the CLI's output import this module for every run,
 * and got (with http2-wrapper and cacheable-request) is most of their module loading (issue 17).
 */
async function defaultGot(): Promise<Got> {
  return (await import('got')).default;
}

/** Posts a transaction Bundle to a FHIR base URL; resolves with what was created, throws FhirServerError otherwise. */
export async function postTransaction(baseUrl: string, bundle: Bundle, options: PostTransactionOptions = {}): Promise<TransactionResult> {
  if (bundle.type !== 'transaction') throw new FhirInputError('bundle.type', String(bundle.type), 'must be "transaction" (see toTransaction)');
  const url = baseUrl.replace(/\/+$/, '');
  const headers: Record<string, string> = { ...requestHeaders(options), 'content-type': 'application/fhir+json', prefer: 'return=minimal' };
  const client = options.got ?? (await defaultGot());
  let response;
  try {
    response = await client.post(url, {
      body: serializeResource(bundle),
      headers,
      responseType: 'text',
      throwHttpErrors: false,
      // A transaction is all-or-nothing and conditional, but a retry after a timeout could still
      // race the first attempt: leave retrying to the caller, who knows the schedule.
      retry: { limit: 0 },
      timeout: { request: options.timeoutMs ?? 30_000 },
    });
  } catch (e) {
    throw new FhirServerError({ status: undefined, url, outcomeText: '', message: `FHIR server ${url} did not answer the transaction: ${(e as Error).message}`, cause: e });
  }
  const status = response.statusCode;
  if (status < 200 || status > 299) {
    const text = outcomeText(response.body);
    throw new FhirServerError({ status, url, outcomeText: text, message: `FHIR server ${url} refused the transaction with HTTP ${status}: ${text}` });
  }
  return readTransactionResponse(url, status, response.body, bundle);
}

function readTransactionResponse(url: string, status: number, body: string, sent: Bundle): TransactionResult {
  const unexpected = (what: string): FhirServerError =>
    new FhirServerError({ status, url, outcomeText: body.slice(0, 500), message: `FHIR server ${url} answered HTTP ${status} but ${what}` });
  let answer: Bundle;
  try {
    answer = JSON.parse(body) as Bundle;
  } catch {
    throw unexpected('the body is not JSON');
  }
  const sentEntries = sent.entry ?? [];
  if (answer.resourceType !== 'Bundle' || answer.type !== 'transaction-response') throw unexpected('not with a transaction-response Bundle');
  // R4: response entries come in the order of the request entries, one each.
  if ((answer.entry ?? []).length !== sentEntries.length) {
    throw unexpected(`with ${(answer.entry ?? []).length} entries for ${sentEntries.length} sent`);
  }
  const entries = (answer.entry ?? []).map((e, i): TransactionEntryResult => {
    const entryStatus = e.response?.status ?? '';
    const created = /^201\b/.test(entryStatus);
    return {
      resourceType: sentEntries[i]?.resource?.resourceType ?? '',
      fullUrl: sentEntries[i]?.fullUrl,
      status: entryStatus,
      created,
      // A conditional create that found its resource also answers 200: only a PUT that did not create updated.
      updated: !created && sentEntries[i]?.request?.method === 'PUT' && /^2\d\d\b/.test(entryStatus),
      location: e.response?.location,
    };
  });
  return { entries, created: entries.filter((e) => e.created).length, updated: entries.filter((e) => e.updated).length };
}

/** True when `url` is on the scheme, host and port of `base`. */
function sameOrigin(url: string, base: string): boolean {
  try {
    return new URL(url).origin === new URL(base).origin;
  } catch {
    return false;
  }
}

/** The value when it is an array, else an empty one (for JSON from others). */
function arrayOf<T>(value: unknown): readonly T[] {
  return Array.isArray(value) ? (value as T[]) : [];
}

/** Headers of every request to the FHIR server. */
function requestHeaders(options: PostTransactionOptions): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/fhir+json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  return headers;
}

/**
 * What the server holds for the Bundle's Observations, by `system|value` of their identifier: one
 * search (`GET Observation?identifier=a,b,...`, the comma ORs token values), following `next` links.
 * Throws FhirServerError when the search fails: sending blind could make needless versions.
 */
export async function readServerObservations(baseUrl: string, bundle: Bundle, options: PostTransactionOptions = {}): Promise<Map<string, Observation[]>> {
  const base = baseUrl.replace(/\/+$/, '');
  const observations = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Observation => r?.resourceType === 'Observation');
  const found = new Map<string, Observation[]>();
  if (observations.length === 0) return found;
  const wanted = new Set(observations.map(identifierKey));
  const tokens = observations.map((o) => ifNoneExistFor(o).slice('identifier='.length)).join(',');
  let url: string | undefined = `${base}/Observation?identifier=${tokens}&_count=${Math.max(50, observations.length * 2)}`;
  const client = options.got ?? (await defaultGot());
  for (let page = 0; url !== undefined && page < 20; page += 1) {
    let response;
    try {
      response = await client.get(url, { headers: requestHeaders(options), responseType: 'text', throwHttpErrors: false, retry: { limit: 0 }, timeout: { request: options.timeoutMs ?? 30_000 } });
    } catch (e) {
      throw new FhirServerError({ status: undefined, url, outcomeText: '', message: `FHIR server ${base} did not answer the search for our Observations: ${(e as Error).message}`, cause: e });
    }
    if (response.statusCode !== 200) {
      const text = outcomeText(response.body);
      throw new FhirServerError({ status: response.statusCode, url, outcomeText: text, message: `FHIR server ${base} refused the search for our Observations with HTTP ${response.statusCode}: ${text}` });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.body);
    } catch {
      throw new FhirServerError({ status: 200, url, outcomeText: response.body.slice(0, 500), message: `FHIR server ${base} answered the search with something that is not JSON` });
    }
    const result = parsed as Partial<Bundle> | null;
    if (result === null || typeof result !== 'object' || result.resourceType !== 'Bundle') {
      throw new FhirServerError({ status: 200, url, outcomeText: response.body.slice(0, 500), message: `FHIR server ${base} answered the search with no Bundle` });
    }
    // The server's JSON is read defensively: a field of the wrong shape counts as absent.
    for (const e of arrayOf<BundleEntry>(result.entry)) {
      const r = e?.resource as Observation | undefined;
      if (r?.resourceType !== 'Observation' || (e.search?.mode !== undefined && e.search.mode !== 'match')) continue;
      const keys = arrayOf<Identifier>(r.identifier)
        .filter((i) => typeof i?.system === 'string' && typeof i.value === 'string')
        .map((i) => `${i.system}|${i.value}`)
        .filter((k) => wanted.has(k));
      for (const key of new Set(keys)) found.set(key, [...(found.get(key) ?? []), r]);
    }
    const next = arrayOf<{ relation?: unknown; url?: unknown }>(result.link).find((l) => l?.relation === 'next')?.url;
    url = typeof next === 'string' ? next : undefined;
    // The bearer token goes with every page: never to a host the configured base did not name.
    if (url !== undefined && !sameOrigin(url, base)) {
      throw new FhirServerError({ status: 200, url: base, outcomeText: url, message: `FHIR server ${base} sent a next-page link to another server (${url.slice(0, 200)}); not followed` });
    }
  }
  return found;
}

/** What sendBundle did: the transaction's outcome and the Observations left out as already current. */
export interface SendResult extends TransactionResult {
  /** Observations the server already held in this version (not sent). */
  readonly unchanged: number;
}

/** Sends a collection Bundle to a FHIR server: reads what it holds, then posts the transaction (see the module comment). */
export async function sendBundle(baseUrl: string, bundle: Bundle, options: PostTransactionOptions = {}): Promise<SendResult> {
  const plan = planTransaction(bundle, await readServerObservations(baseUrl, bundle, options));
  return { ...(await postTransaction(baseUrl, plan.transaction, options)), unchanged: plan.unchanged };
}
