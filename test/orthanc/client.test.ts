import { describe, expect, it } from 'vitest';
import { NotFoundError, OrthancHttpError, OrthancUnreachableError } from '../../src/errors.js';
import { OrthancClient } from '../../src/orthanc/client.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { freePort } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

const orthanc = useOrthanc();

describe('Orthanc client against a real Orthanc', () => {
  it('reads the system and finds a study by Orthanc ID and by StudyInstanceUID', async () => {
    expect((await orthanc.client.system()).Version).toMatch(/^\d+\.\d+/);
    const study = await uploadStudy(orthanc.client, ctStudy(2));
    expect(await orthanc.client.resolveStudy(study.orthancId)).toBe(study.orthancId);
    expect(await orthanc.client.resolveStudy(study.studyInstanceUid)).toBe(study.orthancId);
    const series = await orthanc.client.studySeries(study.orthancId);
    expect(series).toHaveLength(1);
    expect(await orthanc.client.seriesInstances(series[0]!.ID)).toHaveLength(2);
  });

  it('says a study is not found, by UID and by ID', async () => {
    await expect(orthanc.client.resolveStudy('1.2.3.999')).rejects.toThrow(new NotFoundError('study', '1.2.3.999'));
    await expect(orthanc.client.resolveStudy('1.2.3.999')).rejects.toThrow('study 1.2.3.999 not found in Orthanc');
    await expect(orthanc.client.study('00000000-00000000-00000000-00000000-00000000')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('names wrong credentials without quoting them', async () => {
    const wrong = new OrthancClient({ url: orthanc.url, username: orthanc.username, password: 'wrong-password', retries: 0 });
    const error = await wrong.system().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OrthancHttpError);
    expect((error as Error).message).toBe('401 Unauthorized from Orthanc: check ORTHANC_USERNAME / ORTHANC_PASSWORD');
    expect((error as Error).message).not.toContain('wrong-password');
  });

  it("quotes Orthanc's own Details on a bad request", async () => {
    const error = await orthanc.client.upload(Buffer.from('this is not DICOM')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OrthancHttpError);
    expect((error as OrthancHttpError).status).toBe(400);
    expect((error as Error).message).toMatch(/^400 Bad Request from Orthanc: \S/);
  });

  it('uploads idempotently: the same instance again is AlreadyStored', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const series = await orthanc.client.studySeries(study.orthancId);
    const instanceId = series[0]!.Instances[0]!;
    const bytes = await orthanc.client.instanceFile(instanceId);
    expect((await orthanc.client.upload(bytes)).Status).toBe('AlreadyStored');
    expect(await orthanc.client.instanceMetadata(instanceId, 'SopClassUid')).toBe('1.2.840.10008.5.1.4.1.1.2');
  });

  it('writes study metadata with revisions: a stale If-Match is refused with 409', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    expect(await orthanc.client.studyMetadata(study.orthancId, 'KidneyVolumesStatus')).toBeUndefined();
    await orthanc.client.putStudyMetadata(study.orthancId, 'KidneyVolumesStatus', '{"state":"processing","név":"ű"}');
    const first = await orthanc.client.studyMetadata(study.orthancId, 'KidneyVolumesStatus');
    expect(first?.value).toBe('{"state":"processing","név":"ű"}');
    expect(first?.etag).toBeTruthy();
    await orthanc.client.putStudyMetadata(study.orthancId, 'KidneyVolumesStatus', '{"state":"done"}', first!.etag);
    const create = await orthanc.client.putStudyMetadata(study.orthancId, 'KidneyVolumesStatus', '{}').catch((e: unknown) => e);
    expect((create as OrthancHttpError).status).toBe(409);
    const stale = await orthanc.client.putStudyMetadata(study.orthancId, 'KidneyVolumesStatus', '{"state":"x"}', first!.etag).catch((e: unknown) => e);
    expect((stale as OrthancHttpError).status).toBe(409);
    expect((await orthanc.client.studyMetadata(study.orthancId, 'KidneyVolumesStatus'))?.value).toBe('{"state":"done"}');
    await orthanc.client.deleteStudyMetadata(study.orthancId, 'KidneyVolumesStatus');
    expect(await orthanc.client.studyMetadata(study.orthancId, 'KidneyVolumesStatus')).toBeUndefined();
  });

  it('follows the changes log: metadata writes come back as UpdatedMetadata', async () => {
    const head = await orthanc.client.lastChangeSeq();
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    await orthanc.client.setStudyMetadata(study.orthancId, 'KidneyVolumesPending', '{"Right Kidney":"125 ml"}');
    const page = await orthanc.client.changes(head, 100);
    expect(page.Changes.every((c) => c.Seq > head)).toBe(true);
    expect(page.Changes.some((c) => c.ChangeType === 'UpdatedMetadata' && c.ID === study.orthancId)).toBe(true);
    expect(page.Last).toBeGreaterThan(head);
  });
});

describe('Orthanc client when Orthanc is not there', () => {
  it('says it cannot connect, naming the URL and the cause', async () => {
    const port = await freePort();
    const client = new OrthancClient({ url: `http://127.0.0.1:${port}`, retries: 2, retryBaseDelayMs: 10 });
    await expect(client.system()).rejects.toThrow(new OrthancUnreachableError(`http://127.0.0.1:${port}`, 'connection refused'));
    await expect(client.system()).rejects.toThrow(`cannot connect to Orthanc at http://127.0.0.1:${port} (connection refused)`);
  });
});
