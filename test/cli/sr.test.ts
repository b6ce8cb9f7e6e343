import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';
import { SR_SERIES_DESCRIPTION } from '../../src/dicom/sr/document.js';
import { ctStudy, uploadStudy, type BuiltStudy } from '../fixtures/studies.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

/** The built CLI: these tests run the real process, as an operator would. */
const MAIN = fileURLToPath(new URL('../../dist/bundle/main.js', import.meta.url));

interface Run {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

let study: BuiltStudy & { orthancId: string };

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...orthanc.env };
    execFile(process.execPath, [MAIN, ...args], { env, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ exitCode: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

const orthanc = useOrthanc();
beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first with "npm run build" (tsc, then the bundle)`);
  study = await uploadStudy(orthanc.client, ctStudy(2));
}, 60_000);


describe('kidney-volumes attach --approach sr and verify, as a process', () => {
  let sopInstanceUid = '';

  test('attach writes the SR and prints a JSON summary naming it', async () => {
    const run = await cli('attach', study.studyInstanceUid, '--right', '125', '--left', '132', '--total', '257', '--approach', 'sr', '--json');
    expect(run.exitCode, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as { ok: boolean; command: string; studyId: string; outcomes: { approach: string; summary: string; alreadyPresent: boolean; details: Record<string, unknown> }[] };
    expect(summary).toMatchObject({ ok: true, command: 'attach', studyId: study.orthancId });
    expect(summary.outcomes).toHaveLength(1);
    const [outcome] = summary.outcomes;
    expect(outcome).toMatchObject({ approach: 'sr', alreadyPresent: false });
    sopInstanceUid = String(outcome?.details['sopInstanceUid']);
    expect(outcome?.summary).toBe(`SR ${sopInstanceUid} in series ${String(outcome?.details['seriesInstanceUid'])} (3 measurements)`);
    // What Orthanc holds afterwards: that instance, in an SR series of this study.
    const [found] = (await orthanc.client.lookup(sopInstanceUid)).filter((r) => r.Type === 'Instance');
    expect(found?.ID).toBe(outcome?.details['orthancInstanceId']);
    const srSeries = (await orthanc.client.studySeries(study.orthancId)).filter((s) => s.MainDicomTags['Modality'] === 'SR');
    expect(srSeries.map((s) => [s.MainDicomTags['SeriesDescription'], s.MainDicomTags['SeriesNumber'], s.Instances])).toEqual([
      [SR_SERIES_DESCRIPTION, '9999', [found?.ID]],
    ]);
  });

  test('verify prints the stored SR and its values', async () => {
    const run = await cli('verify', study.studyInstanceUid, '--approach', 'sr');
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(
        `^sr: SR ${sopInstanceUid.replace(/\./g, '\\.')} written \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}: ` +
          'Right Kidney 125 mL \\[Right kidney structure\\], Left Kidney 132 mL \\[Left kidney structure\\], ' +
          'Total Volume 257 mL \\[Kidney \\(Bilateral\\)\\]$',
        'm',
      ),
    );
  });
});
