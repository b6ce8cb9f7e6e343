// The README's command for sending a study to Orthanc: dcmsend as written there, with a compressed
// file that storescu's default negotiation cannot send.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildStudy, ctStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

const run = promisify(execFile);
const README = new URL('../../README.md', import.meta.url).pathname;
const JPEG_LS_LOSSLESS = '1.2.840.10008.1.2.4.80';

const orthanc = useOrthanc();

describe("the README's way to send a study", () => {
  it('sends a JPEG-LS study as it is (same transfer syntax) with the dcmsend line of the README, where storescu fails', async () => {
    const line = readFileSync(README, 'utf8').split('\n').find((l) => l.startsWith('dcmsend '));
    expect(line).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'kv-send-'));
    const study = buildStudy(ctStudy(2, { name: 'Send^Compressed' }));
    mkdirSync(join(dir, 'some-study'));
    for (const [i, file] of study.files.entries()) {
      writeFileSync(join(dir, `raw${i}.dcm`), file);
      // dcmtk's JPEG-LS encoder (lossless by default): a compressed study as a modality may send one.
      await run('dcmcjpls', [join(dir, `raw${i}.dcm`), join(dir, 'some-study', `img${i}.dcm`)]);
    }
    const storescu = await run('storescu', ['-aec', 'ORTHANC', '127.0.0.1', String(orthanc.dicomPort), join(dir, 'some-study', 'img0.dcm')]).then(
      () => 'sent',
      (e: { stderr?: string }) => e.stderr ?? '',
    );
    expect(storescu).toMatch(/unable to convert|No presentation context/i);

    // The README's line, with this Orthanc's DICOM port and the folder made here.
    const args = line!.split('#')[0]!.trim().split(/\s+/).slice(1).map((a) => (a === '4242' ? String(orthanc.dicomPort) : a === 'some-study/' ? join(dir, 'some-study') : a));
    await run('dcmsend', args);
    const instances = await orthanc.client.seriesInstances((await orthanc.client.study((await orthanc.client.lookup(study.studyInstanceUid))[0]!.ID)).Series[0]!);
    expect(instances).toHaveLength(2);
    const { stdout } = await run('curl', ['-s', '-u', `${orthanc.username}:${orthanc.password}`, `${orthanc.url}/instances/${instances[0]!.ID}/metadata/TransferSyntax`]);
    expect(stdout).toBe(JPEG_LS_LOSSLESS);
  });
});
