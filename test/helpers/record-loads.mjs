// Loaded with `node --import` (test/deploy/attach-loads.test.ts): appends the URL of every module the
// process loads through the ES module loader (the bundle's chunks, packages left to node_modules)
// to the file named by KV_RECORD_LOADS, one a line, so a test can say what a real command loaded.
import { register } from 'node:module';

const hook = `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.KV_RECORD_LOADS, url + '\\n');
  return next(url, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
