// What scripts/setup.sh leaves to other scripts: the build is skipped when nothing changed, and the
// packages only the tests need are not among what running needs.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cpSync, existsSync, mkdtempSync, readFileSync, statSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;

/** A copy of what the build reads, with the real node_modules, so the real tsc runs without touching this tree's dist/. */
function buildableCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kv-build-'));
  for (const entry of ['src', 'scripts', 'package.json', 'package-lock.json', 'tsconfig.json']) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** Runs the script (asynchronously: tsc takes a while, and a blocked worker cannot report to vitest). */
const build = async (dir: string): Promise<string> => (await promisify(execFile)('bash', [join(dir, 'scripts/build-if-changed.sh')], { encoding: 'utf8' })).stdout;

describe('scripts/setup.sh and its helpers', () => {
  it('builds dist/ when a source changed and not again when nothing did', { timeout: 240_000 }, async () => {
    const dir = buildableCopy();
    await build(dir);
    const main = join(dir, 'dist/cli/main.js');
    expect(existsSync(main)).toBe(true);
    const built = statSync(main).mtimeMs;
    expect(await build(dir)).toContain('dist/ is up to date');
    expect(statSync(main).mtimeMs).toBe(built);
    // A source newer than the last build: the next run builds, which the up-to-date check would not.
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(dir, 'src/cli/main.ts'), later, later);
    expect(await build(dir)).not.toContain('up to date');
    expect(statSync(main).mtimeMs).toBeGreaterThan(built);
  });

  it('installs only Orthanc for running; the test extras come from scripts/setup-tests.sh, which .ci/run calls', () => {
    const setup = readFileSync(join(ROOT, 'scripts/setup.sh'), 'utf8');
    for (const extra of ['postgresql', 'default-jre', 'gcc', 'docker-compose', 'libssl-dev', 'dcmtk', 'dicom3tools', 'pixelmed']) expect(setup).not.toContain(`missing+=(${extra}`);
    const tests = readFileSync(join(ROOT, 'scripts/setup-tests.sh'), 'utf8');
    for (const extra of ['postgresql', 'default-jre-headless', 'gcc', 'docker-compose', 'libssl-dev', 'dcmtk', 'dicom3tools', 'pixelmed-apps']) expect(tests).toContain(`missing+=(${extra})`);
    const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
    expect(ci.indexOf('bash scripts/setup.sh')).toBeLessThan(ci.indexOf('bash scripts/setup-tests.sh'));
    expect(ci.indexOf('bash scripts/setup-tests.sh')).toBeLessThan(ci.lastIndexOf('npm test'));
  });
});
