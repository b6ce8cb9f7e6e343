// The interactive menu in a real terminal: the CLI runs under script(1), which gives it a
// pseudo-terminal, and the test types the answers as a person would.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA } from '../../src/pipeline/metadata.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { CLI } from '../helpers/cli.js';
import { startOrthanc, type TestOrthanc } from '../helpers/orthanc.js';

let orthanc: TestOrthanc;
beforeAll(async () => {
  orthanc = await startOrthanc();
});
afterAll(async () => {
  await orthanc?.stop();
});

/** Runs the CLI with no arguments in a pseudo-terminal, typing each answer once the screen shows its prompt. */
function runInTerminal(env: Record<string, string>, script: readonly [RegExp, string][]): Promise<{ code: number | null; screen: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', `${process.execPath} ${CLI}`, '/dev/null'], {
      env: { PATH: process.env['PATH'] ?? '', TERM: 'xterm', COLUMNS: '120', LINES: '40', KV_RETRIES: '0', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    let step = 0;
    const onData = (d: Buffer): void => {
      screen += d.toString();
      const next = script[step];
      if (next && next[0].test(screen.slice(-2000))) {
        step++;
        setTimeout(() => child.stdin.write(next[1]), 50);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, screen }));
  });
}

describe('the interactive menu', () => {
  it('picks a study, takes the volumes and the approach, and writes like the flags do', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1, { name: 'Menu^Patient' }));
    const run = await runInTerminal(orthanc.env, [
      [/Study/, '\r'],
      [/Right Kidney volume/, '125\r'],
      [/Left Kidney volume/, '132\r'],
      [/Total Volume volume/, '\r'],
      [/Approach/, '\x1b[B\r'],
    ]);
    expect(run.screen).toContain('Menu^Patient');
    expect(run.code).toBe(0);
    expect(run.screen).toMatch(/fhir: written and verified/);
    const stored = await orthanc.client.studyMetadata(study.orthancId, METADATA.fhir);
    expect(stored?.value).toContain('"value":125');
    expect(stored?.value).toContain('"value":132');
  });
});
