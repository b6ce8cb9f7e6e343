// The container image's final stage, laid out as its COPY lines say (no Docker engine here): the
// sidecar started from that layout must find everything it reads at run time beside its bundle,
// such as the dashboard's web/ folder, which the image once left out ("the package is incomplete").
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, type RunningSidecar } from '../helpers/sidecar-process.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The final stage's COPY lines as [source in this repository, destination under /app]. */
function finalStageCopies(dockerfile: string): [string, string][] {
  const stages = dockerfile.split(/^FROM /m);
  const last = stages.at(-1) ?? '';
  return [...last.matchAll(/^COPY\s+(?:--from=build\s+\/app\/)?(\S+)\s+\.\/(\S*)$/gm)].map((m) => [m[1] as string, m[2] as string]);
}

const orthanc = useOrthanc();
let app = '';
let sidecar: RunningSidecar | undefined;
afterAll(async () => {
  await sidecar?.stop();
  if (app) rmSync(app, { recursive: true, force: true });
});

describe('the container image', () => {
  it('holds what the sidecar reads at run time: started from its layout, it serves the dashboard', async () => {
    const copies = finalStageCopies(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
    expect(copies.map(([from]) => from)).toEqual(expect.arrayContaining(['package.json', 'node_modules', 'dist']));
    app = mkdtempSync(join(tmpdir(), 'kv-image-'));
    for (const [from, to] of copies) {
      const target = join(app, to === '' ? from : to);
      // node_modules is the build stage's after npm prune: linked, not copied (the same packages and more).
      if (from === 'node_modules') symlinkSync(join(ROOT, from), target);
      else cpSync(join(ROOT, from), target, { recursive: true });
    }
    sidecar = await runSidecar({ env: orthanc.env, cli: join(app, 'dist', 'bundle', 'main.js') });
    const page = await fetch(`${sidecar.url}/`);
    expect(page.status, await page.clone().text()).toBe(200);
    expect(await page.text()).toContain('<html');
    // The page's own script and the vendored uPlot (from node_modules) are served too.
    for (const asset of ['/dashboard/assets/js/main.js', '/dashboard/assets/vendor/uPlot.iife.min.js']) {
      expect((await fetch(`${sidecar.url}${asset}`)).status, asset).toBe(200);
    }
  }, 120_000);
});
