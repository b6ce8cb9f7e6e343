/**
 * Benchmark of the sweep (issue 15) on N studies, on the Orthanc under test (ORTHANC_BINARY; the
 * 1.12 wrapper of scripts/orthanc-1.12.sh for 1.12).
 *
 *   npx tsc -p bench/tsconfig.json && node dist/bench/bench/sweep.js --studies 10000
 *   ORTHANC_BINARY=$(bash scripts/orthanc-1.12.sh) node dist/bench/bench/sweep.js --studies 10000
 *
 * It stores N one-image studies, marks 1% with a pending mark and (on 1.12) labels another 1%,
 * then runs the sidecar's Sweep as the sidecar does: on 1.10 one page of studies per turn of the
 * loop (the figure that matters is the longest turn, the most the changes feed waits), on 1.12
 * two /tools/find calls. Prints one JSON line.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../src/log.js';
import { OrthancClient } from '../src/orthanc/client.js';
import { labelSettings, orthancFeatures, studiesLabelled } from '../src/orthanc/labels.js';
import { mapLimit } from '../src/pipeline/concurrency.js';
import { METADATA } from '../src/orthanc/metadata.js';
import { DEFAULT_SEGMENTATION_SETTINGS } from '../src/segmentation/settings.js';
import { SidecarEvents } from '../src/sidecar/events.js';
import { Sweep } from '../src/sidecar/sweep.js';
import { buildStudy, ctStudy } from '../test/fixtures/studies.js';
import { ORTHANC_CONFIG, startOrthanc } from '../test/helpers/orthanc.js';

const { values } = parseArgs({ options: { studies: { type: 'string', default: '10000' }, concurrency: { type: 'string', default: '8' } } });
const count = Number(values.studies);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(count) || count < 1) throw new Error(`--studies must be a positive integer, got ${values.studies}`);

// Compiled into dist/bench, the helper looks for the configuration beside it: put a copy there.
mkdirSync(dirname(ORTHANC_CONFIG), { recursive: true });
if (ORTHANC_CONFIG !== join(process.cwd(), 'orthanc', 'orthanc.json')) copyFileSync(join(process.cwd(), 'orthanc', 'orthanc.json'), ORTHANC_CONFIG);
const orthanc = await startOrthanc();
try {
  // Retries on: 10,000 uploads on a loaded machine meet the odd connection reset (the test client has none).
  const client = new OrthancClient({ url: orthanc.url, username: orthanc.username, password: orthanc.password, retries: 3 });
  const features = await orthancFeatures(client);
  const started = Date.now();
  const ids = await mapLimit(
    Array.from({ length: count }, (_, i) => i),
    concurrency,
    async () => (await client.upload(buildStudy({ ...ctStudy(1), series: [{ modality: 'CT', images: 1, rows: 8, columns: 8 }] }).files[0]!)).ParentStudy,
  );
  const populateMs = Date.now() - started;
  const marked = ids.filter((_, i) => i % 100 === 0);
  const labelled = ids.filter((_, i) => i % 100 === 50);
  await mapLimit(marked, concurrency, (id) => client.setStudyMetadata(id, METADATA.pending, '{"Right Kidney": "125 ml"}'));
  if (features.labels) await mapLimit(labelled, concurrency, (id) => client.addStudyLabel(id, 'kidney-volumes'));

  // The label look-up on its own (what the sidecar does every KV_LABEL_INTERVAL_MS on 1.12).
  let labelFind: { ms: number; found: number } | undefined;
  if (features.labels) {
    const before = Date.now();
    const hits = await studiesLabelled(client, labelSettings().request);
    labelFind = { ms: Date.now() - before, found: hits.length };
  }
  let found = 0;
  // Without labels here: the turns below are the full sweep alone.
  const sweep = new Sweep({
    client,
    log: createLogger('silent'),
    events: new SidecarEvents(),
    intervalMs: 3_600_000,
    segmentation: DEFAULT_SEGMENTATION_SETTINGS,
    enqueue: () => found++,
    reflect: () => undefined,
  });
  await sweep.orthancFeatures();
  const turns: number[] = [];
  const sweepStarted = Date.now();
  // A turn that finds the sweep finished and not due does nothing: stop at the first such turn.
  for (;;) {
    const before = Date.now();
    const foundBefore = found;
    await sweep.turn();
    const ms = Date.now() - before;
    if (turns.length > 0 && found === foundBefore && ms < 5) break;
    turns.push(ms);
    if (turns.length > count) throw new Error('the sweep did not end');
  }
  const sweepMs = Date.now() - sweepStarted;
  console.log(
    JSON.stringify({
      orthanc: orthanc.system.Version,
      studies: count,
      populateMs,
      sweep: features.metadataQuery ? 'tools/find (MetadataQuery + Labels)' : 'pages of 100',
      sweepMs,
      turns: turns.length,
      longestTurnMs: Math.max(...turns),
      enqueued: found,
      markedStudies: marked.length,
      ...(labelFind ? { labelFindMs: labelFind.ms, labelledFound: labelFind.found, labelledStudies: labelled.length } : {}),
    }),
  );
} finally {
  await orthanc.stop();
}
