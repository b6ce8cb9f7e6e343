// The upload guard against a real Orthanc: no upload into a deleted study, and after a deletion
// only the instances this run created are removed again.
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errors.js';
import { readStudyFacts } from '../../src/pipeline/read-facts.js';
import { StudyDeletedError, UploadGuard } from '../../src/pipeline/study-guard.js';
import { buildStudy, ctStudy, uploadStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

const orthanc = useOrthanc();

async function deleteStudy(id: string): Promise<void> {
  const auth = Buffer.from(`${orthanc.username}:${orthanc.password}`).toString('base64');
  const answer = await fetch(`${orthanc.url}/studies/${id}`, { method: 'DELETE', headers: { authorization: `Basic ${auth}` } });
  expect(answer.status).toBe(200);
}

describe('the upload guard', () => {
  it('counts only new instances as created, and uploads nothing into a study deleted meanwhile', async () => {
    const spec = ctStudy(2);
    const study = await uploadStudy(orthanc.client, spec);
    const guard = new UploadGuard(orthanc.client, await readStudyFacts(orthanc.client, study.orthancId), 1);
    const extra = buildStudy({ ...spec, studyInstanceUid: study.studyInstanceUid, series: [{ modality: 'CT', images: 1, description: 'extra' }] });
    await guard.upload(study.files[0] as Buffer, study.series[0]?.sopInstanceUids[0] as string);
    expect(guard.createdCount).toBe(0);
    await guard.upload(extra.files[0] as Buffer, extra.series[0]?.sopInstanceUids[0] as string);
    expect(guard.createdCount).toBe(1);
    await guard.settle();

    await deleteStudy(study.orthancId);
    const late = buildStudy({ ...spec, studyInstanceUid: study.studyInstanceUid, series: [{ modality: 'CT', images: 1, description: 'late' }] });
    await expect(guard.upload(late.files[0] as Buffer, late.series[0]?.sopInstanceUids[0] as string)).rejects.toBeInstanceOf(NotFoundError);
    expect(await orthanc.client.lookup(study.studyInstanceUid)).toEqual([]);
  });

  it('after a deletion, removes what this run re-created and leaves no study behind', async () => {
    const spec = ctStudy(2);
    const study = await uploadStudy(orthanc.client, spec);
    const guard = new UploadGuard(orthanc.client, await readStudyFacts(orthanc.client, study.orthancId));
    const copies = buildStudy({ ...spec, studyInstanceUid: study.studyInstanceUid, series: [{ modality: 'CT', images: 2, description: 'copy + kidney volumes' }] });
    await guard.upload(copies.files[0] as Buffer, copies.series[0]?.sopInstanceUids[0] as string);
    await deleteStudy(study.orthancId);
    // An upload in flight when the admin deleted the study (past the guard's check) re-creates it.
    await guard.upload(copies.files[1] as Buffer, copies.series[0]?.sopInstanceUids[1] as string);
    expect((await orthanc.client.lookup(study.studyInstanceUid)).map((r) => r.Type)).toEqual(['Study']);
    const error = await guard.settle().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StudyDeletedError);
    expect((error as StudyDeletedError).removed).toBe(1);
    expect(await orthanc.client.lookup(study.studyInstanceUid)).toEqual([]);
  });

  it('asks for the next batch\'s check during the last quarter of a batch: a deletion seen there stops the next batch, and what it re-created goes', async () => {
    const spec = ctStudy(2);
    const study = await uploadStudy(orthanc.client, spec);
    let checks = 0;
    const client = Object.create(orthanc.client) as typeof orthanc.client;
    client.study = (id: string) => (checks++, orthanc.client.study(id));
    const guard = new UploadGuard(client, await readStudyFacts(orthanc.client, study.orthancId), 4);
    const copies = buildStudy({ ...spec, studyInstanceUid: study.studyInstanceUid, series: [{ modality: 'CT', images: 5, description: 'copy + kidney volumes' }] });
    const upload = (i: number): Promise<unknown> => guard.upload(copies.files[i] as Buffer, copies.series[0]?.sopInstanceUids[i] as string);
    for (const i of [0, 1, 2]) await upload(i);
    expect(checks).toBe(1);
    await deleteStudy(study.orthancId);
    // The batch's fourth upload asks for the next check and goes out without waiting for it (it re-creates the study)...
    await upload(3);
    expect(checks).toBe(2);
    // ...and the next batch waits for that check, which finds the study deleted.
    await expect(upload(4)).rejects.toBeInstanceOf(NotFoundError);
    const error = await guard.settle().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StudyDeletedError);
    expect((error as StudyDeletedError).removed).toBe(1);
    expect(await orthanc.client.lookup(study.studyInstanceUid)).toEqual([]);
  });

  it('settle needs no request when a check made after every upload was answered found the study present', async () => {
    const spec = ctStudy(1);
    const study = await uploadStudy(orthanc.client, spec);
    let checks = 0;
    const client = Object.create(orthanc.client) as typeof orthanc.client;
    client.study = (id: string) => (checks++, orthanc.client.study(id));
    const guard = new UploadGuard(client, await readStudyFacts(orthanc.client, study.orthancId));
    const sr = buildStudy({ ...spec, studyInstanceUid: study.studyInstanceUid, series: [{ modality: 'CT', images: 1, description: 'sr' }] });
    await guard.upload(sr.files[0] as Buffer, sr.series[0]?.sopInstanceUids[0] as string);
    // The check before the FHIR metadata write (fhir-step.ts), after the upload was answered.
    await guard.requirePresent();
    expect(checks).toBe(2);
    await guard.settle();
    expect(checks).toBe(2);
  });

  it('a check made before an upload does not serve settle: the study that upload re-created is removed', async () => {
    const spec = ctStudy(1);
    const study = await uploadStudy(orthanc.client, spec);
    const guard = new UploadGuard(orthanc.client, await readStudyFacts(orthanc.client, study.orthancId));
    const copies = buildStudy({ ...spec, studyInstanceUid: study.studyInstanceUid, series: [{ modality: 'CT', images: 2, description: 'copy + kidney volumes' }] });
    await guard.upload(copies.files[0] as Buffer, copies.series[0]?.sopInstanceUids[0] as string);
    await guard.requirePresent();
    await deleteStudy(study.orthancId);
    // Past the batch's check: this upload re-creates the study.
    await guard.upload(copies.files[1] as Buffer, copies.series[0]?.sopInstanceUids[1] as string);
    const error = await guard.settle().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StudyDeletedError);
    expect((error as StudyDeletedError).removed).toBe(1);
    expect(await orthanc.client.lookup(study.studyInstanceUid)).toEqual([]);
  });

  it('an upload that failed unanswered keeps settle looking: it may land after any check', async () => {
    const spec = ctStudy(1);
    const study = await uploadStudy(orthanc.client, spec);
    const late: Buffer[] = [];
    const client = Object.create(orthanc.client) as typeof orthanc.client;
    // The answer is lost (a reset); Orthanc applies the upload later.
    client.upload = async (bytes: Buffer) => {
      late.push(bytes);
      throw new Error('socket hang up');
    };
    const guard = new UploadGuard(client, await readStudyFacts(orthanc.client, study.orthancId));
    const copies = buildStudy({ ...spec, studyInstanceUid: study.studyInstanceUid, series: [{ modality: 'CT', images: 1, description: 'copy + kidney volumes' }] });
    await expect(guard.upload(copies.files[0] as Buffer, copies.series[0]?.sopInstanceUids[0] as string)).rejects.toThrow('socket hang up');
    await guard.requirePresent();
    await deleteStudy(study.orthancId);
    await orthanc.client.upload(late[0] as Buffer);
    await expect(guard.settle()).rejects.toBeInstanceOf(StudyDeletedError);
  });
});
