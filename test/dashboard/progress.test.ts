// A processing study's progress in the dashboard, in a real browser (Debian's chromium driven by
// playwright-core) against the real sidecar process and a real Orthanc: a study of 150 images is
// marked with the private approach while the page is open, and its row shows the copies' count
// ("processing — private 40/150") through the /events WebSocket before it turns done. The sidecar
// copies 150 images in well under a second, so its uploads go through a proxy that holds them after
// the first 40 until the row has shown a count. The page's own reloads of the list are held too:
// the new study's row must come from its live events alone, not from a later page load.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page, type Route } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { startGateProxy, type GateProxy } from '../helpers/gate-proxy.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, type RunningSidecar } from '../helpers/sidecar-process.js';
import { waitForState } from '../sidecar/harness.js';

const TOKEN = `dash-${Math.random().toString(36).slice(2)}`;
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = new URL('../../artifacts/dashboard/', import.meta.url).pathname;
const IMAGES = 150;
const VOLUMES = JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let sidecar: RunningSidecar;
let proxy: GateProxy;
let context: BrowserContext;
let page: Page;
let profile: string;
let studyId = '';
let uid = '';
let warmId = '';
let warmUid = '';
const problems: string[] = [];
/** What a second watcher (curl-like, with the bearer token) received over /events meanwhile. */
const received: { kind: string; studyId: string; done?: number; total?: number; approach?: string }[] = [];
let socket: WebSocket | undefined;
/** Where the events that follow the mark begin in `received`. */
let fromMark = 0;

async function mark(studyUid: string): Promise<void> {
  const response = await fetch(`${sidecar.url}/studies/${studyUid}/kidney-volumes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: VOLUMES,
  });
  expect(response.status).toBe(202);
}

const orthanc = useOrthanc();
beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run "apt-get install chromium" or "bash .ci/run"`);
  mkdirSync(SHOTS, { recursive: true });
  const warm = await uploadStudy(orthanc.client, ctStudy(1, { name: 'Warm^Wendy', id: 'PID-WARM' }));
  warmId = warm.orthancId;
  warmUid = warm.studyInstanceUid;
  proxy = await startGateProxy(orthanc.url);
  sidecar = await runSidecar({
    env: { ...orthanc.env, ORTHANC_URL: proxy.url, KV_API_TOKEN: TOKEN, KV_POLL_INTERVAL_MS: '200', KV_APPROACHES: 'private', KV_LOG_LEVEL: 'info' },
  });
  // A first study done, so that the list has a row before the big one is marked.
  await mark(warmUid);
  await waitForState(orthanc.client, warmId, ['done']);
  profile = mkdtempSync(join(tmpdir(), 'kv-chromium-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 800 } });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
}, 240_000);

afterAll(async () => {
  socket?.close();
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await sidecar?.stop();
  await proxy?.close();
});

describe('a processing study in the dashboard', () => {
  it('shows the private copies counting up in the row, live, before it turns done', async () => {
    // A study of its own for each try: a second try (CI retries once) must see a study processed again.
    const big = await uploadStudy(orthanc.client, ctStudy(IMAGES, { name: 'Many^Max', id: 'PID-MANY' }));
    studyId = big.orthancId;
    uid = big.studyInstanceUid;
    // This try's watcher alone: a first try's socket would report every event twice.
    socket?.close();
    received.length = 0;
    // Logged out at the start, so that a second try finds the login form again.
    await page.context().clearCookies();
    await page.goto(sidecar.url);
    await page.locator('#login-form').waitFor();
    await page.fill('#token', TOKEN);
    await page.click('#login-form button[type=submit]');
    await page.locator(`tr[data-study="${warmId}"][data-state="done"]`).waitFor();
    await page.evaluate('window.kvNoReload = true');
    // From here on the list is not loaded again until the study is done (its answers wait here).
    const heldLists: Route[] = [];
    const holdList = (route: Route): void => void heldLists.push(route);
    const isList = (url: URL): boolean => url.pathname === '/dashboard/api/studies';
    await page.route(isList, holdList);
    // Every count the row showed, recorded in the page as it changes (a poll could miss a short run).
    await page.evaluate(`(() => {
      window.kvSeen = [];
      new MutationObserver(() => {
        for (const e of document.querySelectorAll('tr[data-study="${studyId}"] .progress')) {
          const text = e.closest('td').textContent;
          if (window.kvSeen.at(-1) !== text) window.kvSeen.push(text);
        }
      }).observe(document.querySelector('tbody'), { childList: true, subtree: true, characterData: true });
    })()`);
    socket = new WebSocket(`${sidecar.url.replace('http', 'ws')}/events`, { headers: { authorization: `Bearer ${TOKEN}` } });
    socket.on('message', (data) => received.push(JSON.parse(String(data)) as (typeof received)[number]));
    await new Promise((resolve, reject) => {
      socket?.once('open', resolve);
      socket?.once('error', reject);
    });
    // A study without marks arriving meanwhile is queued and skipped by the sidecar: it has no row,
    // and the page must not ask for one (a 404 is logged by the browser, and checked below).
    const unmarked = await uploadStudy(orthanc.client, ctStudy(1, { name: 'Plain^Paula', id: 'PID-PLAIN' }));
    await expect.poll(() => received.some((e) => e.kind === 'skipped' && e.studyId === unmarked.orthancId), { timeout: 30_000 }).toBe(true);
    await page.waitForTimeout(500);
    expect(await page.locator(`tr[data-study="${unmarked.orthancId}"]`).count()).toBe(0);
    // The study's uploads after the first 40 wait at the proxy until the row has shown a count.
    let uploads = 0;
    const held = proxy.hold((r) => r.method === 'POST' && r.path === '/instances' && ++uploads > 40);
    try {
      fromMark = received.length;
      await mark(uid);
      await held.arrived(1, 60_000);
      const progress = page.locator(`tr[data-study="${studyId}"] .progress`);
      await progress.waitFor({ timeout: 60_000 });
      const shot = join(SHOTS, 'studies-progress-1280.png');
      await page.screenshot({ path: shot });
    } finally {
      held.release();
    }
    const row = page.locator(`tr[data-study="${studyId}"][data-state]`);
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 120_000 }).toBe('done');
    // The row came and went to done while every reload of the list waited.
    expect(heldLists.length).toBeGreaterThan(0);
    await Promise.all(heldLists.map((r) => r.continue()));
    await page.unroute(isList, holdList);
    // Done: the count is gone with the run.
    expect(await row.locator('.progress').count()).toBe(0);
    const seen = (await page.evaluate('window.kvSeen')) as string[];
    expect(seen.length).toBeGreaterThan(0);
    for (const text of seen) expect(text).toMatch(new RegExp(`^processing — private \\d+/${IMAGES}$`));
    const counts = seen.map((t) => Number(/(\d+)\//.exec(t)?.[1]));
    // Counts only go up, and a partial count was shown while the copies were being written.
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts.some((n) => n < IMAGES)).toBe(true);
    expect(await page.evaluate('window.kvNoReload')).toBe(true);
    expect(problems).toEqual([]);
  }, 240_000);

  it('sends progress over /events as its own kind, apart from the one event per state change', async () => {
    await expect.poll(() => received.some((e) => e.kind === 'done' && e.studyId === studyId), { timeout: 30_000 }).toBe(true);
    const mine = received.slice(fromMark).filter((e) => e.studyId === studyId);
    const states = mine.filter((e) => e.kind !== 'progress').map((e) => e.kind);
    // The big study's own arrival (queued, then skipped: no marks yet) may reach the feed only
    // after the mark; past it, one event per state change.
    const run = states.slice(states.lastIndexOf('queued', states.indexOf('processing')));
    expect(run).toEqual(['queued', 'processing', 'done']);
    expect(states.slice(0, states.length - run.length).every((k) => k === 'queued' || k === 'skipped')).toBe(true);
    const progress = mine.filter((e) => e.kind === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ approach: 'private', done: IMAGES, total: IMAGES });
    // Thinned: far fewer reports than images (one per 500 ms and the last).
    expect(progress.length).toBeLessThan(IMAGES / 2);
    // Every progress report comes between processing and done.
    const kinds = mine.map((e) => e.kind);
    expect(kinds.indexOf('processing')).toBeLessThan(kinds.indexOf('progress'));
    expect(kinds.lastIndexOf('progress')).toBeLessThan(kinds.indexOf('done'));
  });
});
