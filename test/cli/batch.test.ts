// attach --batch as an operator runs it: the real CLI process, a real Orthanc, CSV and JSON-lines
// files on disk. What counts is what Orthanc holds afterwards and what the operator is told.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../src/errors.js';
import { METADATA } from '../../src/orthanc/metadata.js';
import type { BatchSummary } from '../../src/cli/batch.js';
import { ctStudy, uploadStudy, type BuiltStudy } from '../fixtures/studies.js';
import { CLI, runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

type Uploaded = BuiltStudy & { orthancId: string };

let folder: string;
const studies: Uploaded[] = [];

const orthanc = useOrthanc();
beforeAll(async () => {
  folder = mkdtempSync(join(tmpdir(), 'kv-batch-'));
  for (let i = 0; i < 5; i++) studies.push(await uploadStudy(orthanc.client, ctStudy(2, { name: `Batch^Patient${i}` })));
}, 60_000);

afterAll(async () => {
  if (folder) rmSync(folder, { recursive: true, force: true });
});

function batchFile(name: string, lines: readonly string[]): string {
  const path = join(folder, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** How many instances each study holds, and the head of Orthanc's changes log. */
async function snapshot(): Promise<{ instances: number[]; lastChange: number }> {
  const instances: number[] = [];
  for (const s of studies) {
    instances.push((await orthanc.client.studySeries(s.orthancId)).reduce((n, series) => n + series.Instances.length, 0));
  }
  return { instances, lastChange: await orthanc.client.lastChangeSeq() };
}

/** Changes logged after seq that a write causes (Orthanc logs Stable* by itself, StableAge after the last upload). */
async function writesSince(seq: number): Promise<string[]> {
  const changes = (await orthanc.client.changes(seq, 1000)).Changes;
  return changes.map((c) => `${c.ChangeType} ${c.ResourceType}`).filter((c) => !c.startsWith('Stable'));
}

async function modalities(study: Uploaded): Promise<string[]> {
  return (await orthanc.client.studySeries(study.orthancId)).map((s) => s.MainDicomTags['Modality'] ?? '').sort();
}

describe('attach --batch with a CSV file', () => {
  const nth = (i: number) => (): Uploaded => studies[i] as Uploaded;
  const [a, b, c, bad] = [nth(0), nth(1), nth(2), nth(3)];
  let path = '';

  it('writes the good rows, fails the bad one alone, and exits 12 naming its line and cause', async () => {
    path = batchFile('rows.csv', [
      'study,right,left,total,Spleen,measurements,approach',
      `${a().studyInstanceUid},125,132,257,,,`,
      `${bad().studyInstanceUid},-5,130,,,,`,
      `${b().orthancId},0.1 L,98,,180 ml,,"sr,fhir"`,
      `${c().studyInstanceUid},,,,,"{""measurements"": [{""name"": ""Right Kidney"", ""value"": 110, ""unit"": ""mL""}]}",sr`,
    ]);
    const before = await snapshot();
    const run = await runCli(['attach', '--batch', path], orthanc.env);
    expect(run.code, run.stderr).toBe(EXIT_CODES['batch-failed']);
    expect(run.stderr).toContain('1 of 4 rows failed: line 3');
    expect(run.stderr).toContain(`line 3 (${bad().studyInstanceUid}): failed: "Right Kidney": volume must be positive, got "-5 mL"`);
    expect(run.stdout).toContain(`Batch ${path} (csv): 4 rows: 3 written, 0 already done, 1 failed`);
    expect(run.stdout).toMatch(/Failed rows:\n {2}line 3 .*volume must be positive/);
    // One plain line per row on a non-terminal stderr, in file order.
    expect(run.stderr.split('\n').filter((l) => /^\[\d\/4\]/.test(l)).map((l) => l.slice(0, 13))).toEqual([
      '[1/4] line 2 ',
      '[2/4] line 3 ',
      '[3/4] line 4 ',
      '[4/4] line 5 ',
    ]);

    // Outputs for the good rows, in the approaches each asked for; nothing for the bad one.
    expect(await modalities(a())).toEqual(['CT', 'CT', 'SR']);
    expect(await modalities(b())).toEqual(['CT', 'SR']);
    expect(await modalities(c())).toEqual(['CT', 'SR']);
    expect((await orthanc.client.studyMetadata(a().orthancId, METADATA.fhir))?.value).toContain('"value":257');
    const fhirB = (await orthanc.client.studyMetadata(b().orthancId, METADATA.fhir))?.value ?? '';
    expect(fhirB).toContain('"value":100');
    expect(fhirB).toContain('"value":180');
    expect(await orthanc.client.studyMetadata(c().orthancId, METADATA.fhir)).toBeUndefined();
    expect(await modalities(bad())).toEqual(['CT']);
    const after = await snapshot();
    expect(after.instances).toEqual([before.instances[0]! + 3, before.instances[1]! + 1, before.instances[2]! + 1, 2, 2]);
  }, 120_000);

  it('a re-run reports the good rows as already done and writes nothing', async () => {
    const before = await snapshot();
    const run = await runCli(['attach', '--batch', path, '--json'], orthanc.env);
    expect(run.code, run.stderr).toBe(EXIT_CODES['batch-failed']);
    const summary = JSON.parse(run.stdout) as BatchSummary;
    expect(summary).toMatchObject({ ok: false, rows: 4, written: 0, alreadyDone: 3, failed: 1, notAttempted: 0, exitCode: 12, format: 'csv' });
    expect(summary.results.map((r) => [r.line, r.status])).toEqual([
      [2, 'already-done'],
      [3, 'failed'],
      [4, 'already-done'],
      [5, 'already-done'],
    ]);
    expect(summary.results[1]?.error).toEqual({ kind: 'invalid-measurements', message: '"Right Kidney": volume must be positive, got "-5 mL"' });
    expect(summary.results[0]?.outcomes?.map((o) => [o.approach, o.alreadyPresent])).toEqual([
      ['sr', true],
      ['fhir', true],
      ['private', true],
    ]);
    expect(run.stderr).toContain(`[1/4] line 2 (${a().studyInstanceUid}): already done, skipped: nothing written (sr, fhir, private verified)`);
    // No instance and no metadata written: nothing but Orthanc's own Stable* events in its changes log.
    expect((await snapshot()).instances).toEqual(before.instances);
    expect(await writesSince(before.lastChange)).toEqual([]);
  }, 120_000);
});

describe('attach --batch with a JSON-lines file', () => {
  it('runs each object, skipping blank and # lines; an unknown study and a broken line fail alone', async () => {
    const study = studies[4] as Uploaded;
    const path = batchFile('rows.jsonl', [
      '# kidney volumes from the overnight segmentation run',
      JSON.stringify({ study: study.studyInstanceUid, measurements: { 'Right Kidney': '125 ml', 'Left Kidney': 132 }, approach: 'sr,fhir' }),
      '',
      JSON.stringify({ study: '1.2.826.0.1.999.77', measurements: { 'Right Kidney': '125 ml' } }),
      '{"study": "1.2.3", "measurements": ',
    ]);
    const run = await runCli(['attach', '--batch', path, '--json'], orthanc.env);
    expect(run.code, run.stderr).toBe(EXIT_CODES['batch-failed']);
    const summary = JSON.parse(run.stdout) as BatchSummary;
    expect(summary).toMatchObject({ format: 'jsonl', rows: 3, written: 1, failed: 2 });
    expect(summary.results.map((r) => [r.line, r.status, r.error?.kind])).toEqual([
      [2, 'written', undefined],
      [4, 'failed', 'not-found'],
      [5, 'failed', 'usage'],
    ]);
    expect(summary.results[1]?.error?.message).toBe('study 1.2.826.0.1.999.77 not found in Orthanc');
    expect(summary.results[2]?.error?.message).toMatch(/^not valid JSON: /);
    expect(run.stderr).toContain('2 of 3 rows failed: line 4, line 5');
    expect(await modalities(study)).toEqual(['CT', 'SR']);
    expect((await orthanc.client.studyMetadata(study.orthancId, METADATA.fhir))?.value).toContain('"value":132');
  }, 60_000);
});

describe('attach --batch refuses what it cannot do, before writing anything', () => {
  it('a <study> or measurement flags beside --batch, a missing file, a header without study', async () => {
    const path = batchFile('one.csv', ['study,right', '1.2.3,125']);
    const withStudy = await runCli(['attach', '1.2.3', '--batch', path]);
    expect(withStudy.code).toBe(EXIT_CODES.usage);
    expect(withStudy.stderr).toContain('--batch cannot be combined with a <study>');
    const withFlags = await runCli(['attach', '--batch', path, '--right', '5', '--from-json', '-']);
    expect(withFlags.code).toBe(EXIT_CODES.usage);
    expect(withFlags.stderr).toContain('--batch cannot be combined with --right, --from-json');
    const missing = await runCli(['attach', '--batch', join(folder, 'nope.csv')]);
    expect(missing.code).toBe(EXIT_CODES.usage);
    expect(missing.stderr).toContain('nope.csv: ENOENT');
    const noStudy = await runCli(['attach', '--batch', batchFile('nostudy.csv', ['uid,right', '1.2.3,125'])]);
    expect(noStudy.code).toBe(EXIT_CODES.usage);
    expect(noStudy.stderr).toContain('the CSV header must have a "study" column');
    const neither = await runCli(['attach', '--right', '5']);
    expect(neither.code).toBe(EXIT_CODES.usage);
    expect(neither.stderr).toContain('attach needs a <study>');
  });

  it('stops at an unreachable Orthanc instead of failing every row the same way', async () => {
    const port = await freePort();
    const path = batchFile('two.csv', ['study,right', '1.2.3,125', '1.2.4,126']);
    const run = await runCli(['attach', '--batch', path], { ORTHANC_URL: `http://127.0.0.1:${port}` });
    expect(run.code).toBe(EXIT_CODES['orthanc-unreachable']);
    expect(run.stderr).toContain(`batch stopped at line 2: cannot connect to Orthanc at http://127.0.0.1:${port} (connection refused); 1 row(s) not attempted`);
    expect(run.stdout).toContain('2 rows: 0 written, 0 already done, 1 failed, 1 not attempted');
  });
});

describe('attach --batch in a terminal', () => {
  it('draws a progress bar instead of one line per row', async () => {
    const study = studies[4] as Uploaded;
    const path = batchFile('tty.csv', ['study,Liver', `${study.studyInstanceUid},1500`]);
    const screen = await new Promise<string>((resolve, reject) => {
      const child = spawn('script', ['-qfec', `${process.execPath} ${CLI} attach --batch ${path} --approach sr`, '/dev/null'], {
        env: { PATH: process.env['PATH'] ?? '', TERM: 'xterm', COLUMNS: '120', KV_RETRIES: '0', ...orthanc.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', () => resolve(out));
    });
    expect(screen).toMatch(/[█░]+ 1\/1 rows/);
    expect(screen).not.toContain('[1/1] line 2');
    expect(screen).toContain('1 row: 1 written, 0 already done, 0 failed');
  }, 60_000);
});
