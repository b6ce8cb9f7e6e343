/**
 * Sends the Bundle to a FHIR server as one transaction (FHIR R4 http.html#transaction) with
 * conditional creates, so posting the same measurements twice creates nothing the second time.
 */
import got, { type Got } from 'got';
import type { Bundle, BundleEntry, Identifier, OperationOutcome, Resource } from '@medplum/fhirtypes';
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

/** The collection Bundle as a transaction: every entry a POST that creates only when its identifier is not yet known. */
export function toTransaction(bundle: Bundle): Bundle {
  const entry = (bundle.entry ?? []).map((e): BundleEntry => {
    if (!e.resource || !e.fullUrl) throw new FhirInputError('bundle entry', JSON.stringify(e).slice(0, 200), 'needs a fullUrl and a resource');
    return {
      // The urn:uuid fullUrls stay: the server rewrites references to them to the ids it assigns (or finds).
      fullUrl: e.fullUrl,
      resource: e.resource,
      request: { method: 'POST', url: e.resource.resourceType, ifNoneExist: ifNoneExistFor(e.resource) },
    };
  });
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

/** What the server did with one entry. */
export interface TransactionEntryResult {
  readonly resourceType: string;
  readonly fullUrl: string | undefined;
  /** The entry's response.status as the server wrote it, e.g. "201 Created" or "200 OK". */
  readonly status: string;
  /** True when the server created the resource, false when the conditional create found it. */
  readonly created: boolean;
  readonly location: string | undefined;
}

/** The outcome of a transaction the server accepted. */
export interface TransactionResult {
  readonly entries: readonly TransactionEntryResult[];
  /** How many resources were created; 0 when everything was already there. */
  readonly created: number;
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

/** Posts a transaction Bundle to a FHIR base URL; resolves with what was created, throws FhirServerError otherwise. */
export async function postTransaction(baseUrl: string, bundle: Bundle, options: PostTransactionOptions = {}): Promise<TransactionResult> {
  if (bundle.type !== 'transaction') throw new FhirInputError('bundle.type', String(bundle.type), 'must be "transaction" (see toTransaction)');
  const url = baseUrl.replace(/\/+$/, '');
  const headers: Record<string, string> = {
    'content-type': 'application/fhir+json',
    accept: 'application/fhir+json',
    prefer: 'return=minimal',
  };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const client = options.got ?? got;
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
    return {
      resourceType: sentEntries[i]?.resource?.resourceType ?? '',
      fullUrl: sentEntries[i]?.fullUrl,
      status: entryStatus,
      created: /^201\b/.test(entryStatus),
      location: e.response?.location,
    };
  });
  return { entries, created: entries.filter((e) => e.created).length };
}
