// The interactive menu in a real terminal: the CLI runs under script(1), which gives it a
// pseudo-terminal, and the test types the answers as a person would, against a real Orthanc.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../src/errors.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { CLI } from '../helpers/cli.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

const DOWN = '\x1b[B';

const orthanc = useOrthanc();

/** Runs the CLI with no arguments in a pseudo-terminal, typing each answer once the screen shows its prompt. */
function runInTerminal(env: Record<string, string>, script: readonly [RegExp, string][]): Promise<{ code: number | null; screen: string; steps: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', `${process.execPath} ${CLI}`, '/dev/null'], {
      env: { PATH: process.env['PATH'] ?? '', TERM: 'xterm', COLUMNS: '140', LINES: '40', KV_RETRIES: '0', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    let step = 0;
    let seen = 0;
    const onData = (d: Buffer): void => {
      screen += d.toString();
      const next = script[step];
      // Only what appeared since the last answer counts, so an earlier prompt cannot match again.
      if (next && next[0].test(screen.slice(seen))) {
        step++;
        seen = screen.length;
        setTimeout(() => child.stdin.write(next[1]), 80);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen, steps: step });
    });
  });
}

/** The screen without colours and cursor moves, for reading. */
const plain = (screen: string) => screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

describe('the interactive menu', () => {
  it('finds a study by accession among two of the same patient, shows ID, accession, date, modality and images, confirms and writes', async () => {
    const patient = { name: 'Menu^Patient', id: 'PID-MENU-1' };
    await uploadStudy(orthanc.client, { ...ctStudy(2, patient), accessionNumber: 'ACC-OTHER', studyDate: '20240301' });
    const study = await uploadStudy(orthanc.client, { ...ctStudy(3, patient), accessionNumber: 'ACC-MENU-7', studyDate: '20240115' });
    const run = await runInTerminal(orthanc.env, [
      [/Find the study/, 'acc-menu-7\r'],
      [/Study \(1-1 of 1, newest first\)/, '\r'],
      [/Right kidney volume in mL/, '125\r'],
      [/Left kidney volume in mL/, '132\r'],
      [/Total volume of both kidneys in mL/, '\r'],
      // The default is the CLI's (all): one step down is the first single approach.
      [/What to write/, `${DOWN}${DOWN}\r`],
      [/Write these measurements into this study\?/, 'y\r'],
    ]);
    const screen = plain(run.screen);
    expect(run.code, screen).toBe(0);
    expect(screen).toMatch(/Menu\^Patient\s+ID PID-MENU-1\s+Acc ACC-MENU-7\s+2024-01-15\s+CT\s+3 images/);
    expect(screen).not.toContain('ACC-OTHER');
    expect(screen).not.toMatch(/Total Volume volume/);
    expect(screen).toContain('Study: Menu^Patient, patient ID PID-MENU-1, accession ACC-MENU-7, 2024-01-15, CT, 3 images');
    expect(screen).toMatch(/Writes: FHIR R4 Observations\s/);
    expect(screen).toMatch(/fhir: written and verified/);
    const stored = await orthanc.client.studyMetadata(study.orthancId, METADATA.fhir);
    expect(stored?.value).toContain('"value":125');
    expect(stored?.value).toContain('"value":132');
  });

  it('lists every match newest first, page by page, defaults to all approaches, and writes nothing when the summary is declined', async () => {
    const uploaded: { date: string; orthancId: string }[] = [];
    for (let i = 1; i <= 12; i++) {
      const date = `2023${String(i).padStart(2, '0')}10`;
      const s = await uploadStudy(orthanc.client, { ...ctStudy(1, { name: 'Page^Patient', id: `PID-PAGE-${i}` }), accessionNumber: `ACC-PAGE-${i}`, studyDate: date });
      uploaded.push({ date, orthancId: s.orthancId });
    }
    const oldest = uploaded[0]!;
    const run = await runInTerminal(orthanc.env, [
      [/Find the study/, 'page^pat\r'],
      // Ten rows, then "next page": down ten times skips the separator.
      [/Study \(1-10 of 12, newest first\)/, `${DOWN.repeat(10)}\r`],
      [/Study \(11-12 of 12, newest first\)/, `${DOWN}\r`],
      [/Right kidney volume in mL/, '111\r'],
      [/Left kidney volume in mL/, '\r'],
      [/Total volume of both kidneys in mL/, '\r'],
      [/What to write/, '\r'],
      [/Write these measurements into this study\?/, 'n\r'],
    ]);
    const screen = plain(run.screen);
    expect(run.steps, screen).toBe(8);
    expect(run.code).toBe(EXIT_CODES.usage);
    // Newest first on page one; the two oldest on page two, the oldest last.
    const firstPage = screen.slice(screen.indexOf('Study (1-10 of 12'), screen.indexOf('Study (11-12 of 12'));
    expect(firstPage.indexOf('2023-12-10')).toBeLessThan(firstPage.indexOf('2023-11-10'));
    expect(firstPage).toContain('2023-03-10');
    expect(firstPage).not.toContain('2023-02-10');
    expect(screen).toContain('Study: Page^Patient, patient ID PID-PAGE-1, accession ACC-PAGE-1, 2023-01-10, CT, 1 images');
    expect(screen).toMatch(/Writes: DICOM SR \(TID 1500 Measurement Report\); FHIR R4 Observations; private tags/);
    expect(screen).toContain('nothing written');
    for (const name of [METADATA.pending, METADATA.fhir]) expect(await orthanc.client.studyMetadata(oldest.orthancId, name)).toBeUndefined();
    expect((await orthanc.client.studySeries(oldest.orthancId)).length).toBe(1);
  });

  it('searches by a date range', async () => {
    await uploadStudy(orthanc.client, { ...ctStudy(1, { name: 'Date^Patient', id: 'PID-DATE' }), accessionNumber: 'ACC-DATE', studyDate: '20190704' });
    const run = await runInTerminal(orthanc.env, [
      [/Find the study/, '2019-07-01..2019-07-31\r'],
      [/Study \(1-1 of 1, newest first\)/, '\x03'],
    ]);
    expect(plain(run.screen)).toMatch(/Date\^Patient\s+ID PID-DATE\s+Acc ACC-DATE\s+2019-07-04/);
  });
});
