/**
 * The Orthanc REST client: the one module that knows Orthanc's URLs. Timeouts on every call;
 * idempotent calls are retried with backoff through the one retry primitive (src/retry.ts), which
 * retries only what failureClass calls transient (connection refused or reset, timeouts, 5xx).
 */
import { AmbiguousStudyError, NotFoundError, OrthancHttpError, RaceLostError } from '../errors.js';
import { withRetry } from '../retry.js';
import { redactUrl } from './redact.js';
import { DEFAULT_IDLE_MS, mayResend, orthancAgents, type Resend } from './connection.js';
import { toOrthancError } from './errors.js';
import { OrthancTransport, type BodyMemory, type TransportResponse } from './transport.js';
import type {
  LookupResult,
  OrthancChanges,
  OrthancInstance,
  OrthancSeries,
  OrthancStudy,
  OrthancSystem,
  Revisioned,
  SimplifiedTags,
  ModalityStoreResult,
  UploadResult,
} from './types.js';

/** How to reach Orthanc. */
export interface OrthancClientOptions {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  readonly timeoutMs?: number;
  readonly retries?: number;
  /** First retry delay; each next one doubles, up to 10 s. */
  readonly retryBaseDelayMs?: number;
  /** PEM CA certificates for an https Orthanc; they replace the system's trusted roots. */
  readonly ca?: Buffer;
  /** PEM client certificate, for an Orthanc with SslVerifyPeers. */
  readonly cert?: Buffer;
  /** PEM private key of the client certificate. */
  readonly key?: Buffer;
  /** Idle keep-alive sockets close after this long; below Orthanc's KeepAliveTimeout (default 1 s). */
  readonly keepAliveIdleMs?: number;
}

interface CallOptions {
  readonly idempotent: boolean;
  /** A compare-and-set (If-Match, or create-only): sent again after a connection reset, since a repeat that had landed answers 409. */
  readonly compareAndSet?: boolean;
  readonly json?: unknown;
  readonly body?: Buffer | string;
  readonly headers?: Record<string, string>;
  readonly searchParams?: Record<string, string | number | boolean>;
  /** Overrides the client's request timeout (a synchronous C-STORE lasts as long as the transfer). */
  readonly timeoutMs?: number;
  readonly into?: BodyMemory;
}

/** The HTTP methods the client sends. */
type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

const ORTHANC_ID = /^[0-9a-f]{8}(-[0-9a-f]{8}){4}$/;
/** An Orthanc ID no study has (not a SHA-1 prefix pattern Orthanc makes), for the probe in describesMissingResources. */
const NO_SUCH_STUDY = '00000000-00000000-00000000-00000000-00000000';

/** True when `id` has the shape of an Orthanc ID (not a DICOM UID). */
export function isOrthancId(id: string): boolean {
  return ORTHANC_ID.test(id.trim());
}

/** Orthanc's JSON error for a resource it does not have (ErrorCode_UnknownResource, 17). */
function isUnknownResource(body: string): boolean {
  if (!body.includes('"OrthancStatus"')) return false;
  try {
    return (JSON.parse(body) as { OrthancStatus?: unknown }).OrthancStatus === 17;
  } catch {
    return false;
  }
}

/** Typed access to the Orthanc REST API. */
export class OrthancClient {
  readonly baseUrl: string;
  private readonly http: OrthancTransport;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  /**
   * Whether this Orthanc answers a missing resource with its JSON error (OrthancStatus 17) and a
   * missing metadata of an existing resource with an empty 404, so the two need no second call to
   * tell apart; found out once, on the first empty 404 (undefined until then).
   */
  private describesMissing: Promise<boolean> | undefined;

  constructor(options: OrthancClientOptions) {
    this.baseUrl = redactUrl(options.url).replace(/\/+$/, '');
    this.retries = options.retries ?? 3;
    this.retryBaseMs = options.retryBaseDelayMs ?? 500;
    this.http = new OrthancTransport({
      baseUrl: this.baseUrl,
      agents: orthancAgents(options.keepAliveIdleMs ?? DEFAULT_IDLE_MS),
      ...(options.username !== undefined ? { username: options.username, password: options.password ?? '' } : {}),
      timeoutMs: options.timeoutMs ?? 30_000,
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.cert !== undefined ? { cert: options.cert } : {}),
      ...(options.key !== undefined ? { key: options.key } : {}),
    });
  }

  /** GET /system: version and name; also the cheapest reachability and credentials check. */
  system(): Promise<OrthancSystem> {
    return this.json('GET', 'system', { idempotent: true });
  }

  /** GET /plugins: the names of the plugins Orthanc loaded (e.g. "orthanc-explorer-2"). */
  plugins(): Promise<string[]> {
    return this.json('GET', 'plugins', { idempotent: true });
  }

  /** GET /studies: the IDs of every study. */
  studyIds(): Promise<string[]> {
    return this.json('GET', 'studies', { idempotent: true });
  }

  /** GET /studies?since=&limit=: one page of study IDs (Orthanc's own order), for sweeps that must not hold the whole list. */
  studyIdsPage(since: number, limit: number): Promise<string[]> {
    return this.json('GET', 'studies', { idempotent: true, searchParams: { since, limit } });
  }

  /** POST /tools/find at study level (IDs only): `query` adds Labels, LabelsConstraint, MetadataQuery (1.12). */
  findStudies(query: Readonly<Record<string, unknown>>): Promise<string[]> {
    return this.json('POST', 'tools/find', { idempotent: true, json: { Level: 'Study', Query: {}, ...query } });
  }

  /** GET /studies/{id}/labels (1.12): the study's labels; NotFoundError when the study is absent. */
  studyLabels(id: string): Promise<string[]> {
    return this.found('study', id, this.json('GET', `studies/${id}/labels`, { idempotent: true }));
  }

  /** PUT /studies/{id}/labels/{label} (1.12); setting a label the study has is a no-op. */
  async addStudyLabel(id: string, label: string): Promise<void> {
    await this.found('study', id, this.call('PUT', `studies/${id}/labels/${encodeURIComponent(label)}`, { idempotent: true, body: '' }));
  }

  /** DELETE /studies/{id}/labels/{label} (1.12); removing a label the study does not have is a no-op. */
  async removeStudyLabel(id: string, label: string): Promise<void> {
    await this.found('study', id, this.call('DELETE', `studies/${id}/labels/${encodeURIComponent(label)}`, { idempotent: true }));
  }

  /** GET /studies?expand: every study with its main tags (for pickers; small archives). */
  studies(limit = 100): Promise<OrthancStudy[]> {
    return this.json('GET', 'studies', { idempotent: true, searchParams: { expand: true, since: 0, limit } });
  }

  /**
   * POST /tools/find at study level, expanded: the studies whose main tags match every key of the
   * query (Orthanc's wildcards * and ?, date ranges "20240101-20241231"), case-insensitively.
   */
  findStudiesExpanded(query: Readonly<Record<string, string>>): Promise<OrthancStudy[]> {
    return this.json('POST', 'tools/find', { idempotent: true, json: { Level: 'Study', Query: query, Expand: true, CaseSensitive: false } });
  }

  /** GET /studies/{id}; NotFoundError when absent. */
  study(id: string): Promise<OrthancStudy> {
    return this.found('study', id, this.json('GET', `studies/${id}`, { idempotent: true }));
  }

  /** GET /instances/{id}; NotFoundError when absent. */
  instance(id: string): Promise<OrthancInstance> {
    return this.found('instance', id, this.json('GET', `instances/${id}`, { idempotent: true }));
  }

  /** DELETE /instances/{id}: only for instances we created (src/pipeline/study-guard.ts checks each first). */
  async deleteInstance(id: string): Promise<void> {
    await this.found('instance', id, this.call('DELETE', `instances/${id}`, { idempotent: true }));
  }

  /** GET /series/{id}; NotFoundError when absent. */
  series(id: string): Promise<OrthancSeries> {
    return this.found('series', id, this.json('GET', `series/${id}`, { idempotent: true }));
  }

  /** GET /studies/{id}/series: the study's series, expanded. */
  studySeries(id: string): Promise<OrthancSeries[]> {
    return this.found('study', id, this.json('GET', `studies/${id}/series`, { idempotent: true }));
  }

  /** GET /series/{id}/instances: the series' instances, expanded. */
  seriesInstances(id: string): Promise<OrthancInstance[]> {
    return this.found('series', id, this.json('GET', `series/${id}/instances`, { idempotent: true }));
  }

  /**
   * GET /series/{id}/shared-tags?simplify: the tags every instance of the series has with the same
   * value, by keyword (one call per series instead of one per instance).
   */
  seriesSharedTags(id: string): Promise<SimplifiedTags> {
    return this.found('series', id, this.json('GET', `series/${id}/shared-tags`, { idempotent: true, searchParams: { simplify: '' } }));
  }

  /** GET /instances/{id}/simplified-tags: every tag by keyword, text in UTF-8. */
  instanceTags(id: string): Promise<SimplifiedTags> {
    return this.found('instance', id, this.json('GET', `instances/${id}/simplified-tags`, { idempotent: true }));
  }

  /** GET /instances/{id}/metadata/{name}; undefined when the instance has no such metadata. */
  async instanceMetadata(id: string, name: string): Promise<string | undefined> {
    return (await this.metadataOf('instances', id, name))?.value;
  }

  /** GET /instances/{id}/file: the stored Part-10 bytes, read into `into`'s memory when it gives some (see BodyMemory). */
  async instanceFile(id: string, into?: BodyMemory): Promise<Buffer> {
    // Without "identity" Orthanc gzips the file on the fly (HttpCompressionEnabled): measured 4x slower on loopback.
    const headers = { 'accept-encoding': 'identity' };
    return this.found('instance', id, this.call('GET', `instances/${id}/file`, { idempotent: true, headers, ...(into ? { into } : {}) }).then((r) => r.rawBody));
  }

  /** POST /instances: stores Part-10 bytes. Idempotent: the same SOP Instance UID answers AlreadyStored. */
  upload(bytes: Buffer): Promise<UploadResult> {
    return this.json('POST', 'instances', { idempotent: true, body: bytes, headers: { 'content-type': 'application/dicom' } });
  }

  /** GET /studies/{id}/metadata/{name} with its revision; undefined when not set. */
  studyMetadata(id: string, name: string): Promise<Revisioned | undefined> {
    return this.metadataOf('studies', id, name);
  }

  /**
   * GET /studies/{id}/metadata?expand: every metadata of the study by name, in one call (without
   * revisions: read one name with studyMetadata before a compare-and-set); NotFoundError when absent.
   */
  studyMetadataAll(id: string): Promise<Record<string, string>> {
    return this.found('study', id, this.json('GET', `studies/${id}/metadata`, { idempotent: true, searchParams: { expand: '' } }));
  }

  /**
   * PUT /studies/{id}/metadata/{name} as a compare-and-set (Orthanc's CheckRevisions): with
   * ifMatch it replaces that revision; without it, it only creates. Either way 409 (kind
   * "conflict") means somebody else wrote first.
   */
  async putStudyMetadata(id: string, name: string, value: string, ifMatch?: string): Promise<void> {
    await this.call('PUT', `studies/${id}/metadata/${name}`, {
      idempotent: false,
      compareAndSet: true,
      body: value,
      headers: { 'content-type': 'text/plain; charset=utf-8', ...(ifMatch !== undefined ? { 'if-match': ifMatch } : {}) },
    });
  }

  /**
   * Compare-and-set of study metadata: writes over exactly the revision `ifMatch` (create-only
   * without it). False when another writer came first (Orthanc's 409); other failures throw.
   * A 409 to a repeat (the first PUT's answer was lost to a reset) over exactly our value is our
   * own write: the repeat met the revision the first one made. A 409 to a first send is always a
   * lost race, even over an equal value (another writer's equal text is still another revision).
   */
  async replaceStudyMetadata(id: string, name: string, value: string, ifMatch: string | undefined): Promise<boolean> {
    try {
      await this.putStudyMetadata(id, name, value, ifMatch);
      return true;
    } catch (error) {
      if (error instanceof OrthancHttpError && error.status === 409) return error.afterResend && (await this.studyMetadata(id, name))?.value === value;
      throw error;
    }
  }

  /** Sets study metadata whatever its current revision (for values only we write): read, compare-and-set, again on a lost race. */
  async setStudyMetadata(id: string, name: string, value: string): Promise<void> {
    await withRetry({ attempts: 5, baseMs: 20 }, async () => {
      const current = await this.studyMetadata(id, name);
      if (!(await this.replaceStudyMetadata(id, name, value, current?.etag))) throw new RaceLostError(`study metadata ${name} of study ${id} kept changing while it was being written; try again`, { studyId: id, name });
    });
  }

  /** DELETE /studies/{id}/metadata/{name} at the given revision (or the current one); nothing when it is not set. */
  async deleteStudyMetadata(id: string, name: string, ifMatch?: string): Promise<void> {
    const etag = ifMatch ?? (await this.studyMetadata(id, name))?.etag;
    try {
      await this.call('DELETE', `studies/${id}/metadata/${name}`, {
        idempotent: false,
        compareAndSet: etag !== undefined,
        ...(etag !== undefined ? { headers: { 'if-match': etag } } : {}),
      });
    } catch (error) {
      if (!(error instanceof OrthancHttpError && error.status === 404)) throw error;
    }
  }

  /** GET /changes?since=&limit= (since is exclusive). */
  changes(since: number, limit = 100): Promise<OrthancChanges> {
    return this.json('GET', 'changes', { idempotent: true, searchParams: { since, limit } });
  }

  /** GET /changes?last: the head of the changes log. */
  async lastChangeSeq(): Promise<number> {
    const answer = await this.json<OrthancChanges>('GET', 'changes', { idempotent: true, searchParams: { last: '' } });
    return answer.Last;
  }

  /**
   * POST /modalities/{name}/store with Synchronous: Orthanc C-STOREs the resources (instances,
   * series, studies by Orthanc ID) to a modality of its DicomModalities and answers when done.
   * Not retried here: the caller decides, and a resent C-STORE is harmless but slow.
   */
  storeToModality(modality: string, resources: readonly string[], timeoutMs?: number): Promise<ModalityStoreResult> {
    return this.json('POST', `modalities/${encodeURIComponent(modality)}/store`, {
      idempotent: false,
      json: { Resources: resources, Synchronous: true },
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
  }

  /** POST /series/{id}/modify: a server-side modified copy of a series in the same study. */
  modifySeries(id: string, request: Readonly<Record<string, unknown>>): Promise<{ ID: string; Path: string }> {
    return this.found('series', id, this.json('POST', `series/${id}/modify`, { idempotent: false, json: request }));
  }

  /** POST /tools/lookup: which resources carry this DICOM UID. */
  lookup(uid: string): Promise<LookupResult[]> {
    return this.json('POST', 'tools/lookup', { idempotent: true, body: uid, headers: { 'content-type': 'text/plain' } });
  }

  /**
   * An Orthanc study ID from an Orthanc ID or a StudyInstanceUID; NotFoundError when neither exists,
   * AmbiguousStudyError when the UID names studies of several patients (never a silent first pick).
   */
  async resolveStudy(studyIdOrUid: string): Promise<string> {
    const wanted = studyIdOrUid.trim();
    if (ORTHANC_ID.test(wanted)) {
      await this.study(wanted);
      return wanted;
    }
    const matches = (await this.lookup(wanted)).filter((r) => r.Type === 'Study');
    const [first] = matches;
    if (first === undefined) throw new NotFoundError('study', wanted);
    if (matches.length === 1) return first.ID;
    const candidates = await Promise.all(
      matches.map(async (m) => ({ orthancId: m.ID, patientId: (await this.study(m.ID)).PatientMainDicomTags['PatientID'] ?? '' })),
    );
    throw new AmbiguousStudyError(wanted, candidates);
  }

  private async metadataOf(level: 'studies' | 'instances', id: string, name: string): Promise<Revisioned | undefined> {
    try {
      const response = await this.call('GET', `${level}/${id}/metadata/${name}`, { idempotent: true });
      const etag = response.headers.etag;
      return { value: response.rawBody.toString('utf8'), ...(etag !== undefined ? { etag: etag.replace(/^"|"$/g, '') } : {}) };
    } catch (error) {
      if (error instanceof OrthancHttpError && error.status === 404) {
        // 404 means "no such metadata" for an existing resource, or no such resource at all.
        // Orthanc tells them apart by its body (checked on 1.10 and 1.12) unless HttpDescribeErrors
        // is off or a proxy rewrites errors: then one more call settles it, as before (issue 17).
        if (isUnknownResource(error.body) && level === 'studies') throw new NotFoundError('study', id);
        if (error.body === '' && (await this.describesMissingResources())) return undefined;
        if (level === 'studies') await this.study(id);
        return undefined;
      }
      throw error;
    }
  }

  /** Asks once (a metadata read of a study that cannot exist) whether a missing resource comes back as Orthanc's JSON error. */
  private describesMissingResources(): Promise<boolean> {
    this.describesMissing ??= this.call('GET', `studies/${NO_SUCH_STUDY}/metadata/LastUpdate`, { idempotent: true }).then(
      () => false,
      (error: unknown) => error instanceof OrthancHttpError && error.status === 404 && isUnknownResource(error.body),
    );
    return this.describesMissing;
  }

  private async found<T>(what: string, id: string, promise: Promise<T>): Promise<T> {
    try {
      return await promise;
    } catch (error) {
      if (error instanceof OrthancHttpError && error.status === 404) throw new NotFoundError(what, id);
      throw error;
    }
  }

  private async json<T>(method: Method, path: string, options: CallOptions): Promise<T> {
    const response = await this.call(method, path, options);
    return JSON.parse(response.rawBody.toString('utf8')) as T;
  }

  private call(method: Method, path: string, options: CallOptions): Promise<TransportResponse> {
    // A call that is not idempotent (a compare-and-set, a modify) is tried once: the caller decides.
    return withRetry({ attempts: options.idempotent ? this.retries + 1 : 1, baseMs: this.retryBaseMs, maxMs: 10_000 }, () => this.callOnce(method, path, options));
  }

  private async callOnce(method: Method, path: string, options: CallOptions): Promise<TransportResponse> {
    const resend: Resend = options.idempotent ? 'idempotent' : options.compareAndSet === true ? 'compare-and-set' : 'unsafe';
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.http.send({ method, path, ...options });
      } catch (error) {
        // Once more at once after a connection fault when that is safe (see mayResend); the retry primitive does the rest.
        if (attempt === 1 && mayResend(error, resend)) continue;
        const failure = toOrthancError(error, this.baseUrl, method, `/${path}`);
        if (attempt > 1 && failure instanceof OrthancHttpError) failure.afterResend = true;
        throw failure;
      }
    }
  }
}
