// Reading a study's facts from a real Orthanc (issue 17): the SOP class of each instance comes
// from one shared-tags call per series; only a series that mixes SOP classes is read per instance.
import { beforeAll, describe, expect, it } from 'vitest';
import { decodePart10, encodePart10 } from '../../src/dicom/part10.js';
import { newUid } from '../../src/uids.js';
import { OrthancClient } from '../../src/orthanc/client.js';
import { readStudyFacts } from '../../src/pipeline/read-facts.js';
import { SopClass, buildStudy, ctStudy, uploadStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

/** A client that counts its per-instance metadata and tag reads. */
class CountingClient extends OrthancClient {
  metadataReads = 0;
  tagReads = 0;
  override instanceMetadata(id: string, name: string): Promise<string | undefined> {
    this.metadataReads++;
    return super.instanceMetadata(id, name);
  }
  override instanceTags(id: string): ReturnType<OrthancClient['instanceTags']> {
    this.tagReads++;
    return super.instanceTags(id);
  }
}

let client: CountingClient;
const orthanc = useOrthanc();
beforeAll(async () => {
  client = new CountingClient({ url: orthanc.url, username: orthanc.username, password: orthanc.password });
});

describe('readStudyFacts', () => {
  it('reads the SOP class of a 20-image series without one call per instance', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(20));
    client.metadataReads = 0;
    const facts = await readStudyFacts(client, study.orthancId);
    expect(client.metadataReads).toBe(0);
    expect(facts.series[0]?.instances.map((i) => i.sopClassUid)).toEqual(Array(20).fill(SopClass.CTImage));
    expect(facts.series[0]?.instances.map((i) => i.instanceNumber)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('reads each instance of a series that mixes SOP classes (a secondary capture among CT images)', async () => {
    const built = buildStudy(ctStudy(3));
    const { dataset } = decodePart10(built.files[0] as Buffer);
    const capture = encodePart10({ ...dataset, SOPClassUID: SopClass.SecondaryCapture, SOPInstanceUID: newUid(), InstanceNumber: '4' });
    let studyId = '';
    for (const file of [...built.files, capture]) studyId = (await orthanc.client.upload(file)).ParentStudy;
    client.metadataReads = 0;
    const facts = await readStudyFacts(client, studyId);
    expect(client.metadataReads).toBe(4);
    expect(facts.series[0]?.instances.map((i) => i.sopClassUid)).toEqual([SopClass.CTImage, SopClass.CTImage, SopClass.CTImage, SopClass.SecondaryCapture]);
  });

  it("takes IssuerOfPatientID and TimezoneOffsetFromUTC of a one-image series from its shared tags, without reading the instance", async () => {
    const study = await uploadStudy(orthanc.client, { ...ctStudy(1, { issuer: 'HOSP-A' }), timezoneOffsetFromUtc: '+0900' });
    client.tagReads = 0;
    const facts = await readStudyFacts(client, study.orthancId);
    expect(client.tagReads).toBe(0);
    expect(facts.patient.issuerOfPatientId).toBe('HOSP-A');
    expect(facts.timezoneOffsetFromUtc).toBe('+0900');
    // Absent from the only instance: absent, still without a read.
    const plain = await uploadStudy(orthanc.client, ctStudy(1));
    const without = await readStudyFacts(client, plain.orthancId);
    expect(client.tagReads).toBe(0);
    expect(without.patient.issuerOfPatientId).toBeUndefined();
    expect(without.timezoneOffsetFromUtc).toBeUndefined();
  });

  it('reads the first instance when its series\' instances differ in those tags (not shared), and not when they agree', async () => {
    const built = buildStudy({ ...ctStudy(2, { issuer: 'HOSP-A' }), timezoneOffsetFromUtc: '+0900' });
    const second = decodePart10(built.files[1] as Buffer).dataset;
    let studyId = '';
    for (const file of [built.files[0] as Buffer, encodePart10({ ...second, IssuerOfPatientID: 'HOSP-B', TimezoneOffsetFromUTC: '+0100' })]) {
      studyId = (await orthanc.client.upload(file)).ParentStudy;
    }
    client.tagReads = 0;
    const facts = await readStudyFacts(client, studyId);
    expect(client.tagReads).toBe(1);
    expect(facts.patient.issuerOfPatientId).toBe('HOSP-A');
    expect(facts.timezoneOffsetFromUtc).toBe('+0900');
    const same = await uploadStudy(orthanc.client, { ...ctStudy(3, { issuer: 'HOSP-C' }), timezoneOffsetFromUtc: '-0500' });
    client.tagReads = 0;
    const agreed = await readStudyFacts(client, same.orthancId);
    expect(client.tagReads).toBe(0);
    expect(agreed.patient.issuerOfPatientId).toBe('HOSP-C');
    expect(agreed.timezoneOffsetFromUtc).toBe('-0500');
  });
});
