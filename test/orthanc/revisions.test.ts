// The compare-and-set the leases rest on, against the Orthanc under test (1.10 or 1.12, see
// .ci/run) with its SQLite index and with a PostgreSQL index: a stale If-Match and a create over an
// existing value are refused, and of many replicas claiming one study at once exactly one wins.
// 1.12 with SQLite has no revision numbers (its ETag is "0-<md5 of the value>"), so a value written
// back to an earlier one would match an old ETag (ABA): the last test checks that the sidecar's
// status writes never repeat a value.
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrthancHttpError } from '../../src/errors.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { Lease } from '../../src/sidecar/lease.js';
import { createLogger } from '../../src/log.js';
import { writeStatus, type StoredStatus, type StudyStatus } from '../../src/status/status.js';
import type { OrthancClient } from '../../src/orthanc/client.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { type TestOrthanc } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { startPostgres, type TestPostgres } from '../scale/postgres.js';

let postgres: TestPostgres;
let storage: string;
beforeAll(async () => {
  postgres = await startPostgres();
  storage = mkdtempSync(join(tmpdir(), 'kv-revisions-'));
}, 60_000);
afterAll(async () => {
  await postgres?.stop();
  if (storage) rmSync(storage, { recursive: true, force: true });
});
const orthancs: Record<string, TestOrthanc> = { SQLite: useOrthanc(), PostgreSQL: useOrthanc(() => postgres.orthancConfig(storage)) };

/** A status as a replica writes it when it claims a study. */
/** A claim written through the status store over the revision `etag` (create-only without one): its new ETag, or undefined when it lost. */
async function claimStatus(client: OrthancClient, studyId: string, status: StudyStatus, etag: string | undefined): Promise<string | undefined> {
  const before: StoredStatus = etag === undefined ? { kind: 'absent' } : { kind: 'unreadable', problem: 'not read here', etag };
  return (await writeStatus(client, studyId, before, status))?.etag;
}

function claim(owner: string, at: Date): StudyStatus {
  const now = at.toISOString();
  return { state: 'processing', digest: 'd'.repeat(64), measurements: [], attempts: 1, createdAt: now, updatedAt: now, owner, leaseUntil: new Date(at.getTime() + 60_000).toISOString() };
}

/** The HTTP status of a failed call (0 when it did not fail). */
async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 0;
  } catch (error) {
    if (error instanceof OrthancHttpError) return error.status ?? -1;
    throw error;
  }
}

describe.each(['SQLite', 'PostgreSQL'])('metadata compare-and-set with the %s index', (index) => {
  const orthanc = (): TestOrthanc => orthancs[index]!;

  it('refuses a stale If-Match and a create over an existing value, accepts the current revision', async () => {
    const { client } = orthanc();
    const study = await uploadStudy(client, ctStudy(1));
    await client.putStudyMetadata(study.orthancId, METADATA.status, 'one');
    const first = await client.studyMetadata(study.orthancId, METADATA.status);
    expect(first?.etag).toBeTruthy();
    expect(await statusOf(client.putStudyMetadata(study.orthancId, METADATA.status, 'two'))).toBe(409);
    await client.putStudyMetadata(study.orthancId, METADATA.status, 'two', first?.etag);
    const second = await client.studyMetadata(study.orthancId, METADATA.status);
    expect(second?.value).toBe('two');
    expect(second?.etag).not.toBe(first?.etag);
    expect(await statusOf(client.putStudyMetadata(study.orthancId, METADATA.status, 'three', first?.etag))).toBe(409);
    expect(await statusOf(client.deleteStudyMetadata(study.orthancId, METADATA.status, first?.etag))).toBe(409);
    expect((await client.studyMetadata(study.orthancId, METADATA.status))?.value).toBe('two');
  });

  it('lets exactly one of eight replicas claiming one study at once win', async () => {
    const { client } = orthanc();
    const study = await uploadStudy(client, ctStudy(1));
    const at = new Date();
    for (const start of [undefined, 'existing']) {
      if (start) await client.setStudyMetadata(study.orthancId, METADATA.status, JSON.stringify(claim('old', new Date(at.getTime() - 1000))));
      const before = await client.studyMetadata(study.orthancId, METADATA.status);
      const owners = Array.from({ length: 8 }, (_, i) => `r${i}`);
      const results = await Promise.all(owners.map((o) => claimStatus(client, study.orthancId, claim(o, at), before?.etag)));
      const winners = owners.filter((_, i) => results[i] !== undefined);
      expect(winners).toHaveLength(1);
      expect(JSON.parse((await client.studyMetadata(study.orthancId, METADATA.status))?.value ?? '{}').owner).toBe(winners[0]);
    }
  });

  it('a lease renewal after somebody else wrote the status loses the lease', async () => {
    const { client } = orthanc();
    const study = await uploadStudy(client, ctStudy(1));
    const mine = claim('me', new Date());
    const etag = await claimStatus(client, study.orthancId, mine, undefined);
    expect(etag).toBeDefined();
    const lease = new Lease({ client, log: createLogger('silent'), leaseMs: 600, now: () => new Date() }, study.orthancId, { status: mine, etag: etag ?? '' });
    await client.setStudyMetadata(study.orthancId, METADATA.status, JSON.stringify(claim('other', new Date())));
    const deadline = Date.now() + 5000;
    while (!lease.lost && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await lease.release();
    expect(lease.reason).toBe('renewal conflict: the status was written by somebody else');
    expect(JSON.parse((await client.studyMetadata(study.orthancId, METADATA.status))?.value ?? '{}').owner).toBe('other');
  });
});

describe('ETags on the Orthanc under test', () => {
  it('equal values: whether an old ETag matches again is what the status writes must never rely on', async () => {
    const { client } = orthancs['SQLite']!;
    const study = await uploadStudy(client, ctStudy(1));
    await client.putStudyMetadata(study.orthancId, METADATA.status, 'A');
    const a = await client.studyMetadata(study.orthancId, METADATA.status);
    await client.putStudyMetadata(study.orthancId, METADATA.status, 'B', a?.etag);
    const b = await client.studyMetadata(study.orthancId, METADATA.status);
    await client.putStudyMetadata(study.orthancId, METADATA.status, 'A', b?.etag);
    const again = await client.studyMetadata(study.orthancId, METADATA.status);
    // 1.12 with SQLite: the ETag is "0-<md5 of the value>", so A written back has A's old ETag and
    // a writer holding it would win (ABA); 1.10 counts revisions. Either way the sidecar is safe
    // only because no two of its status writes are equal: every one carries a fresh updatedAt and,
    // for claims, the replica's owner id.
    const contentHashed = again?.etag === a?.etag;
    expect(contentHashed).toBe(/^"?0-[0-9a-f]{32}"?$/.test(a?.etag ?? ''));
  });

  it("the PUT's answer carries an ETag that the next If-Match refuses, so a status write reads its new ETag with a GET", async () => {
    const orthanc = orthancs['SQLite']!;
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await orthanc.client.putStudyMetadata(study.orthancId, METADATA.status, 'A');
    const read = await orthanc.client.studyMetadata(study.orthancId, METADATA.status);
    const answer = await rawPut(orthanc, study.orthancId, 'B', read?.etag);
    expect(answer.status).toBe(200);
    const got = await orthanc.client.studyMetadata(study.orthancId, METADATA.status);
    // 1.10.1 and 1.12.7 with SQLite both answer "1-<md5>" (the revision the write would have) while
    // the index keeps no revisions: GET says "0-<md5>", and only that one passes the If-Match.
    expect(answer.etag).not.toBe(got?.etag);
    expect(await statusOf(orthanc.client.putStudyMetadata(study.orthancId, METADATA.status, 'C', answer.etag))).toBe(409);
    await orthanc.client.putStudyMetadata(study.orthancId, METADATA.status, 'C', got?.etag);
  });
});

/** A metadata PUT sent by hand, to read the ETag of its answer (the client does not keep it). */
function rawPut(orthanc: TestOrthanc, studyId: string, value: string, ifMatch: string | undefined): Promise<{ status: number; etag: string | undefined }> {
  const auth = `Basic ${Buffer.from(`${orthanc.username}:${orthanc.password}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = request(
      `${orthanc.url}/studies/${studyId}/metadata/${METADATA.status}`,
      { method: 'PUT', headers: { authorization: auth, 'content-type': 'text/plain', ...(ifMatch !== undefined ? { 'if-match': ifMatch } : {}) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag?.replace(/^"|"$/g, '') }));
      },
    );
    req.on('error', reject);
    req.end(value);
  });
}
