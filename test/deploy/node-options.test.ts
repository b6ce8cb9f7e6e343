// The sidecar's V8 heap limits are the same wherever it is started: the Docker image, scripts/start.sh,
// and the test helper the tests and benchmarks start it with (so they measure it as deployed).
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { SIDECAR_NODE_OPTIONS } from '../helpers/sidecar-process.js';

const ROOT = new URL('../../', import.meta.url).pathname;

it('gives the sidecar the same heap limits in the Dockerfile, scripts/start.sh and the tests', () => {
  expect(readFileSync(`${ROOT}Dockerfile`, 'utf8')).toContain(`ENV NODE_OPTIONS="${SIDECAR_NODE_OPTIONS}"`);
  expect(readFileSync(`${ROOT}scripts/start.sh`, 'utf8')).toContain(`NODE_OPTIONS="\${NODE_OPTIONS:-${SIDECAR_NODE_OPTIONS}}" node dist/bundle/main.js`);
});
