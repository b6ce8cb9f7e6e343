// The shipped entry point is the esbuild bundle (scripts/bundle.mjs, issue 17): every way of starting
// kidney-volumes runs it, and its chunks keep the CLI's lazy imports lazy. Read from the built
// bundle itself: its static imports, and its source maps for which sources each chunk holds.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BUNDLE = join(ROOT, 'dist', 'bundle');

/** The chunks a chunk imports statically (they load with it) and dynamically (on first use), and the packages it imports statically. */
function importsOf(file: string): { statics: string[]; dynamics: string[]; packages: string[] } {
  const text = readFileSync(join(BUNDLE, file), 'utf8');
  const imported = [...text.matchAll(/^\s*(?:import|export)\s*(?:[^'"();]*?\s+from\s*)?"([^"]+)";?$/gm)].map((m) => m[1] as string);
  const statics = imported.filter((i) => i.startsWith('./')).map((i) => i.slice(2));
  const packages = imported.filter((i) => !i.startsWith('./') && !i.startsWith('node:'));
  const dynamics = [...text.matchAll(/\bimport\("\.\/([^"]+\.js)"\)/g)].map((m) => m[1] as string);
  return { statics, dynamics, packages };
}

/** The packages left to node_modules that load with these chunks. */
const packagesOf = (chunks: Iterable<string>): string[] => [...chunks].flatMap((c) => importsOf(c).packages);

/** Every chunk that loads when `file` loads (its static imports, transitively). */
function staticClosure(file: string): Set<string> {
  const seen = new Set<string>();
  const visit = (f: string): void => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const next of importsOf(f).statics) visit(next);
  };
  visit(file);
  return seen;
}

/** The sources (src/... and node_modules/...) inside the given chunks, from their source maps. */
function sourcesOf(chunks: Iterable<string>): string[] {
  const sources: string[] = [];
  for (const chunk of chunks) {
    const map = JSON.parse(readFileSync(join(BUNDLE, `${chunk}.map`), 'utf8')) as { sources: string[] };
    sources.push(...map.sources.map((s) => s.replace(/^(\.\.\/)+/, '')));
  }
  return sources;
}

/** The entry chunk esbuild made for a dynamically imported source (its name, then a hash). */
function entryChunk(name: string): string {
  const found = readdirSync(BUNDLE).find((f) => new RegExp(`^${name}-[A-Z0-9]+\\.js$`).test(f));
  if (found === undefined) throw new Error(`no chunk for ${name} in ${BUNDLE}`);
  return found;
}

const loaded = (sources: readonly string[], prefix: string): boolean => sources.some((s) => s.startsWith(prefix));

describe('the bundled CLI', () => {
  if (!existsSync(join(BUNDLE, 'main.js'))) throw new Error(`${BUNDLE}/main.js is missing: run "npm run build" first (npm test does)`);

  it('is what package.json, npm start, the Dockerfile, scripts/start.sh and the tests run', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.bin['kidney-volumes']).toBe('dist/bundle/main.js');
    expect(pkg.scripts['start']).toBe('node dist/bundle/main.js');
    expect(pkg.scripts['build']).toContain('node scripts/bundle.mjs');
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/^ENTRYPOINT \["node", "\/app\/dist\/bundle\/main\.js"\]$/m);
    const start = readFileSync(join(ROOT, 'scripts/start.sh'), 'utf8');
    expect(start).not.toContain('dist/cli/main.js');
    expect(start.match(/node dist\/bundle\/main\.js/g)).toHaveLength(2);
    expect(CLI).toBe(join(BUNDLE, 'main.js'));
  });

  it('reads its version from package.json at run time, from where the bundle lies', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(execFileSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' }).trim()).toBe(version);
  });

  it('loads at start only the command line itself: every command loads its own modules when it runs', () => {
    const atStart = sourcesOf(staticClosure('main.js'));
    expect(atStart).toContain('src/cli/program.ts');
    expect(loaded(atStart, 'node_modules/commander/')).toBe(true);
    for (const later of ['node_modules/got/', 'node_modules/zod/', 'node_modules/pino/', 'node_modules/express/', 'node_modules/dcmjs/', 'node_modules/@inquirer/', 'node_modules/jsonc-parser/', 'src/config.ts', 'src/sidecar/', 'src/http/', 'src/pipeline/', 'src/orthanc/', 'src/fhir/bundle']) {
      expect.soft(loaded(atStart, later), later).toBe(false);
    }
    // The imports of program.ts's commands are still chunks of their own, loaded by import().
    expect(importsOf('main.js').dynamics).toEqual(expect.arrayContaining([entryChunk('attach-claimed'), entryChunk('migrate'), entryChunk('menu')]));
  });

  it('attach loads neither the sidecar (only its claim path), its HTTP API, the menu, nor the database', () => {
    const attach = sourcesOf(staticClosure(entryChunk('attach-claimed')));
    expect(attach).toContain('src/cli/attach-claimed.ts');
    expect(attach).toContain('src/pipeline/attach.ts');
    for (const other of ['src/sidecar/run.ts', 'src/sidecar/service.ts', 'src/sidecar/metrics.ts', 'node_modules/prom-client/', 'src/http/', 'src/index/', 'node_modules/express/', 'node_modules/@inquirer/', 'node_modules/better-sqlite3/', 'node_modules/dcmjs/', 'src/delivery/run.ts', 'node_modules/got/']) {
      expect.soft(loaded(attach, other), other).toBe(false);
    }
    expect(packagesOf(staticClosure(entryChunk('attach-claimed')))).not.toContain('got');
  });

  it('leaves got to node_modules, loaded only by the deliveries on first use: neither the CLI nor the sidecar loads it at start', () => {
    const all = readdirSync(BUNDLE).filter((f) => f.endsWith('.js'));
    expect(loaded(sourcesOf(all), 'node_modules/got/')).toBe(false);
    const sidecar = all.filter((f) => /^run-[A-Z0-9]+\.js$/.test(f)).find((f) => sourcesOf([f]).includes('src/sidecar/run.ts'));
    expect(sidecar).toBeDefined();
    for (const start of ['main.js', sidecar as string]) expect.soft(packagesOf(staticClosure(start)), start).not.toContain('got');
    // Who does import it: the DICOMweb delivery, statically, in a chunk of its own loaded by import().
    expect(all.filter((f) => importsOf(f).packages.includes('got')).flatMap((f) => sourcesOf([f]))).toContain('src/delivery/dicomweb.ts');
    // The deliveries' runner loads no delivery with it: each one (HL7 included) loads on first use, so got only with DICOMweb.
    const deliveries = all.filter((f) => /^run-[A-Z0-9]+\.js$/.test(f)).find((f) => sourcesOf([f]).includes('src/delivery/run.ts'));
    expect(deliveries).toBeDefined();
    const withRunner = sourcesOf(staticClosure(deliveries as string));
    for (const later of ['src/delivery/dicomweb.ts', 'src/delivery/forward.ts', 'src/delivery/hl7/deliver.ts']) expect.soft(withRunner, later).not.toContain(later);
    expect(packagesOf(staticClosure(deliveries as string))).not.toContain('got');
  });

  it('leaves better-sqlite3 (a native addon) and dcmjs (required on first use) to node_modules', () => {
    const all = sourcesOf(readdirSync(BUNDLE).filter((f) => f.endsWith('.js')));
    expect(loaded(all, 'node_modules/better-sqlite3/')).toBe(false);
    expect(loaded(all, 'node_modules/dcmjs/')).toBe(false);
    expect(loaded(all, 'node_modules/express/')).toBe(true);
  });
});
