// Bundles the CLI (dist/cli/main.js, which tsc has just built) into dist/bundle/main.js, the entry
// point that package.json's bin, `npm start`, the Dockerfile and scripts/start.sh run (issue 17).
// Why: Node 20 has no compile cache, and resolving, reading and compiling about 180 ES modules and
// 140 CommonJS ones cost most of a short command's start (CPU of a 1-image `attach` to its first
// request: 0.59 s unbundled). Bundled, Node reads a few chunks instead.
// - splitting: every `await import()` of the sources stays a separate chunk loaded only when that
//   command runs (`--version` loads commander alone, `attach` never loads express or the sidecar);
// - got stays outside too: only the DICOMweb and FHIR deliveries load it, on first use, and as a
//   package import the test hook that refuses got (test/orthanc/without-got.test.ts) still sees it;
// - better-sqlite3 stays outside (a native addon, loaded through its own `bindings` lookup), and so
//   does every file read at run time: the dashboard's web/ folder and uPlot are found upwards from
//   the bundle (src/http/dashboard/assets.ts), package.json at ../../ (src/cli/program.ts), dcmjs is
//   required on first use (src/dicom/part10.ts); node_modules ships beside dist as before;
// - mainFields module first: jsonc-parser's "main" is a UMD build whose factory requires its own
//   files by relative path, which a bundle cannot serve; its "module" build is plain ESM;
// - the banner gives the CommonJS packages inside (pino, commander...) a real `require` for Node's
//   built-ins, which esbuild's ESM output otherwise refuses at run time.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/bundle`;
rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['dist/cli/main.js'],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  mainFields: ['module', 'main'],
  external: ['better-sqlite3', 'got'],
  sourcemap: 'linked',
  banner: { js: "import { createRequire as __kvCreateRequire } from 'node:module'; const require = __kvCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
