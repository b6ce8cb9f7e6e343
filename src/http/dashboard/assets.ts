/** Where the dashboard's files are: web/ in this package, and uPlot from its npm package (no CDN). */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's web/ folder, found upwards from this module (it runs from src/ in tests and dist/ once built). */
export function webFolder(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'web', 'index.html')) && existsSync(join(dir, 'package.json'))) return join(dir, 'web');
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`the dashboard's web/ folder was not found above ${fileURLToPath(import.meta.url)}: the package is incomplete`);
    dir = parent;
  }
}

/** uPlot's dist folder (uPlot.iife.min.js, uPlot.min.css), resolved like any dependency. */
export function uplotFolder(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
}
