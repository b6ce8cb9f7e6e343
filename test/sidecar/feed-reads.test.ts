// How often the sidecar reads Orthanc's changes feed while studies wait (issue 17): a page that
// found changes used to be followed by another read at once, so in a burst the feed was read after
// nearly every write of every study, a request each time for Orthanc and for us. While more
// studies wait than there are workers, new changes can only join the end of the queue: the feed is
// then read at the poll interval, and at once again only when the workers run short.
import { describe, expect, it } from 'vitest';
import { METADATA } from '../../src/orthanc/metadata.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { clientThrough, startGateProxy } from '../helpers/gate-proxy.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { startSidecar, waitForState } from './harness.js';

const orthanc = useOrthanc();
const STUDIES = 16;
const POLL_MS = 1000;

describe('reading the changes feed while studies wait', () => {
  it('reads it at the poll interval, not after every page, while more studies wait than there are workers', async () => {
    const studies = [];
    for (let i = 0; i < STUDIES; i++) studies.push(await uploadStudy(orthanc.client, ctStudy(1)));
    const proxy = await startGateProxy(orthanc.url);
    const running = startSidecar(clientThrough(proxy, orthanc), { sidecar: { concurrency: 1, pollIntervalMs: POLL_MS } });
    try {
      // Following from the head of the log before the marks come.
      await expect.poll(() => proxy.requests.some((r) => r.path.startsWith('/changes')), { timeout: 10_000 }).toBe(true);
      const before = proxy.requests.length;
      const started = Date.now();
      for (const study of studies) await orthanc.client.setStudyMetadata(study.orthancId, METADATA.pending, JSON.stringify({ 'Right Kidney': '125 ml' }));
      for (const study of studies) expect((await waitForState(orthanc.client, study.orthancId, ['done', 'failed'])).state).toBe('done');
      const seconds = (Date.now() - started) / 1000;
      const reads = proxy.requests.slice(before).filter((r) => r.path.startsWith('/changes')).length;
      // One read per poll interval, and a few at once when the queue ran short (its first pages,
      // the last studies' writes). Reading after every page that found changes made about three
      // reads per study here.
      expect(reads, `${reads} reads of the feed in ${seconds.toFixed(1)} s for ${STUDIES} studies`).toBeLessThanOrEqual(Math.ceil(seconds * (1000 / POLL_MS)) + 8);
      // Every study was processed once: fewer reads lost none of them.
      expect(running.events.filter((e) => e.kind === 'processing')).toHaveLength(STUDIES);
    } finally {
      await running.stop();
      await proxy.close();
    }
  });
});
