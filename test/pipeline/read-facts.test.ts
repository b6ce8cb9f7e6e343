// Reading a study's facts from a real Orthanc (issue 17): the SOP class of each instance comes
// from one shared-tags call per series; only a series that mixes SOP classes is read per instance.
import { beforeAll, describe, expect, it } from 'vitest';
import { decodePart10, encodePart10 } from '../../src/dicom/part10.js';
import { newUid } from '../../src/uids.js';
import { OrthancClient } from '../../src/orthanc/client.js';
import { readStudyFacts } from '../../src/pipeline/read-facts.js';
import { SopClass, buildStudy, ctStudy, uploadStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

/** A client that counts its per-instance metadata reads. */
class CountingClient extends OrthancClient {
  metadataReads = 0;
  override instanceMetadata(id: string, name: string): Promise<string | undefined> {
    this.metadataReads++;
    return super.instanceMetadata(id, name);
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
});
