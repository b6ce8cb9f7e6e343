// What a real `attach` of one image loads (issue 17), read from the bundle chunks the process
// loaded (a loader hook records them, test/helpers/record-loads.mjs) and their source maps: the
// CLI logs nothing, so pino (about 25 ms of CPU at each start) must not load, nor got, express or
// the sidecar's service.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { runCli } from '../helpers/cli.js';
import { useOrthanc } from '../helpers/use-orthanc.js';

const RECORD = `--import ${new URL('../helpers/record-loads.mjs', import.meta.url).href}`;

/** The sources (src/..., node_modules/...) of every file the process loaded: bundle chunks by their source maps, other files as they are. */
function sourcesLoaded(urls: readonly string[]): string[] {
  return urls
    .filter((u) => u.startsWith('file:'))
    .flatMap((u) => {
      const path = fileURLToPath(u);
      if (!path.includes('/dist/bundle/')) return [path.replace(/^.*\/(node_modules\/)/, '$1')];
      const map = JSON.parse(readFileSync(`${path}.map`, 'utf8')) as { sources: string[] };
      return map.sources.map((s) => s.replace(/^(\.\.\/)+/, ''));
    });
}

describe('a one-image attach, as a process', () => {
  const orthanc = useOrthanc();

  it('loads neither pino, got, express nor the sidecar service (the recording itself is checked: it sees the attach pipeline)', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const dir = mkdtempSync(join(tmpdir(), 'kv-loads-'));
    const file = join(dir, 'loads.txt');
    try {
      const run = await runCli(['attach', study.orthancId, '--approach', 'sr,private', '--right', '125', '--json'], { ...orthanc.env, KV_TIMEZONE: 'UTC', KV_RECORD_LOADS: file, NODE_OPTIONS: RECORD });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const sources = sourcesLoaded(readFileSync(file, 'utf8').trim().split('\n'));
      for (const absent of ['node_modules/pino/', 'node_modules/got/', 'node_modules/express/', 'src/log.ts', 'src/sidecar/run.ts']) {
        expect.soft(sources.filter((s) => s.startsWith(absent)), absent).toEqual([]);
      }
      expect(sources).toContain('src/pipeline/attach.ts');
      expect(sources).toContain('src/logger.ts');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // The platform's first use of its time zone data costs about 25 ms; a private-tag attach writes no
  // times, so it must not look up this machine's zone. The SR attach beside it shows the count works.
  it('with KV_TIMEZONE unset, looks up no time zone for --approach private, and does for sr', async () => {
    const study = await uploadStudy(orthanc.client, ctStudy(1));
    const dir = mkdtempSync(join(tmpdir(), 'kv-zones-'));
    const hook = join(dir, 'count-zones.mjs');
    writeFileSync(
      hook,
      "import { writeFileSync } from 'node:fs';\n" +
        'let made = 0;\n' +
        'const Real = Intl.DateTimeFormat;\n' +
        'Intl.DateTimeFormat = function (...args) { made++; return new Real(...args); };\n' +
        "process.on('exit', () => writeFileSync(process.env.KV_ZONES_OUT, String(made)));\n",
    );
    const formatsMade = async (approach: string): Promise<number> => {
      const out = join(dir, `${approach}.txt`);
      const env = Object.fromEntries(Object.entries(orthanc.env).filter(([name]) => name !== 'KV_TIMEZONE'));
      const run = await runCli(['attach', study.orthancId, '--approach', approach, '--right', '125', '--json'], { ...env, KV_ZONES_OUT: out, NODE_OPTIONS: `--import ${pathToFileURL(hook).href}` });
      expect(run.code, run.stderr).toBe(0);
      return Number(readFileSync(out, 'utf8'));
    };
    try {
      expect(await formatsMade('private')).toBe(0);
      expect(await formatsMade('sr')).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
