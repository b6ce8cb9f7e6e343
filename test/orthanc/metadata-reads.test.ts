/**
 * Reading study metadata in as few calls as Orthanc allows (issue 17): a missing metadata of an
 * existing study is told from a missing study by Orthanc's 404 body, and an Orthanc that does not
 * describe its errors (HttpDescribeErrors false) still gets the right answer, from one more call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errors.js';
import { OrthancClient } from '../../src/orthanc/client.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { startGateProxy, type GateProxy } from '../helpers/gate-proxy.js';
import { startOrthanc, type TestOrthanc } from '../helpers/orthanc.js';

const NO_SUCH_STUDY = '0000000b-00000000-00000000-00000000-00000000';

/** An Orthanc with the given settings, a counting proxy in front, and a client through the proxy. */
function counted(overrides: Record<string, unknown>): { orthanc: () => TestOrthanc; client: () => OrthancClient; requests: string[] } {
  let orthanc: TestOrthanc;
  let proxy: GateProxy;
  let client: OrthancClient;
  const requests: string[] = [];
  beforeAll(async () => {
    orthanc = await startOrthanc(overrides);
    proxy = await startGateProxy(orthanc.url);
    // A hold that never holds: its matcher sees every request.
    proxy.hold((r) => (requests.push(`${r.method} ${r.path}`), false));
    client = new OrthancClient({ url: proxy.url, username: orthanc.username, password: orthanc.password, retries: 0 });
  }, 60_000);
  afterAll(async () => {
    await proxy?.close();
    await orthanc?.stop();
  });
  return { orthanc: () => orthanc, client: () => client, requests };
}

describe.each([
  { name: 'Orthanc describing its errors (the default)', overrides: {}, describes: true },
  { name: 'Orthanc with HttpDescribeErrors false', overrides: { HttpDescribeErrors: false }, describes: false },
])('metadata reads, $name', ({ overrides, describes }) => {
  const { orthanc, client, requests } = counted(overrides);

  it('answers undefined for a metadata the study lacks, and NotFoundError for a study that does not exist', async () => {
    const study = await uploadStudy(orthanc().client, ctStudy(1));
    // The first empty 404 asks Orthanc once how it answers a missing study; later reads need no second call.
    expect(await client().studyMetadata(study.orthancId, METADATA.status)).toBeUndefined();
    requests.length = 0;
    expect(await client().studyMetadata(study.orthancId, METADATA.status)).toBeUndefined();
    expect(await client().studyMetadata(study.orthancId, METADATA.inputs)).toBeUndefined();
    expect(requests.filter((r) => r.startsWith('GET /studies/') && !r.includes('/metadata'))).toHaveLength(describes ? 0 : 2);
    await expect(client().studyMetadata(NO_SUCH_STUDY, METADATA.status)).rejects.toThrow(new NotFoundError('study', NO_SUCH_STUDY));
  });

  it('reads every metadata of a study in one call, and says a missing study is not found', async () => {
    const study = await uploadStudy(orthanc().client, ctStudy(1));
    await orthanc().client.setStudyMetadata(study.orthancId, METADATA.pending, '{"Right Kidney": "125 ml"}');
    requests.length = 0;
    const all = await client().studyMetadataAll(study.orthancId);
    expect(all[METADATA.pending]).toBe('{"Right Kidney": "125 ml"}');
    expect(all[METADATA.status]).toBeUndefined();
    expect(requests).toHaveLength(1);
    await expect(client().studyMetadataAll(NO_SUCH_STUDY)).rejects.toThrow(new NotFoundError('study', NO_SUCH_STUDY));
  });
});
