/**
 * Benchmark of the dashboard's studies list (issue 18): a page of 50 rows, filtered by state and
 * searched, from an index of 100,000 studies in an SQLite file, as the sidecar keeps it.
 *
 *   npm run bench:dashboard [-- --studies 100000 --runs 30]
 *
 * It fills a throwaway index file, then times each kind of page the dashboard asks for (count
 * included) and prints the median and worst time of each against the target of 100 ms.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { StudyIndex, type ListQuery } from '../src/index/store.js';
import { fakeRow } from '../test/dashboard/rows.js';

const TARGET_MS = 100;
const { values } = parseArgs({ options: { studies: { type: 'string', default: '100000' }, runs: { type: 'string', default: '30' } } });
const studies = Number(values.studies);
const runs = Number(values.runs);
if (!Number.isInteger(studies) || studies < 1 || !Number.isInteger(runs) || runs < 1) throw new Error(`--studies and --runs must be positive integers, got ${values.studies} and ${values.runs}`);

const dir = mkdtempSync(join(tmpdir(), 'kv-bench-index-'));
try {
  const index = StudyIndex.open(dir);
  const fillStart = performance.now();
  for (let n = 0; n < studies; n += 10_000) index.upsertMany(Array.from({ length: Math.min(10_000, studies - n) }, (_, i) => fakeRow(n + i)));
  console.log(`filled ${studies.toLocaleString('en')} studies in ${Math.round(performance.now() - fillStart)} ms`);

  const middle = Math.floor(studies / 2);
  const cases: [string, ListQuery][] = [
    ['newest page, no filter', {}],
    ['failed only', { states: ['failed'] }],
    ['failed, searched by a name shared by 1/8 of them', { states: ['failed'], search: 'tanaka' }],
    ['done, searched by an exact patient ID (one match)', { states: ['done'], search: fakeRow(middle - (middle % 5) + 2).patientId.toLowerCase() }],
    ['all states, searched by a StudyInstanceUID prefix', { search: '1.2.826.0.1.3680043.10.4242' }],
    ['all states, search that matches nothing', { search: 'no such patient' }],
    ['failed, page 40, searched', { states: ['failed'], search: 'okafor', page: 40 }],
  ];
  let worstMedian = 0;
  for (const [name, query] of cases) {
    const times: number[] = [];
    let rows = 0;
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      const page = index.list({ pageSize: 50, ...query });
      times.push(performance.now() - start);
      rows = page.rows.length;
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)] ?? 0;
    const worst = times[times.length - 1] ?? 0;
    worstMedian = Math.max(worstMedian, median);
    console.log(`${name.padEnd(52)} ${String(rows).padStart(3)} rows  median ${median.toFixed(1).padStart(6)} ms  worst ${worst.toFixed(1).padStart(6)} ms`);
  }
  console.log(`slowest median ${worstMedian.toFixed(1)} ms for a page of 50 from ${studies.toLocaleString('en')} studies (target: under ${TARGET_MS} ms): ${worstMedian < TARGET_MS ? 'met' : 'NOT met'}`);
  index.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
