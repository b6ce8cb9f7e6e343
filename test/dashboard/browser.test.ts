// The dashboard in a real browser (Debian's chromium driven by playwright-core) against the real
// sidecar process and a real Orthanc: what an admin sees after logging in, as the sidecar works.
// The tests run in order, as one admin's session would. Screenshots go to artifacts/dashboard/.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA } from '../../src/orthanc/metadata.js';
import { ctStudy, uploadStudy } from '../fixtures/studies.js';
import { startMllpListener, type MllpListener } from '../delivery/mllp-listener.js';
import { freePort } from '../helpers/orthanc.js';
import { useOrthanc } from '../helpers/use-orthanc.js';
import { runSidecar, type RunningSidecar } from '../helpers/sidecar-process.js';
import { waitForState } from '../sidecar/harness.js';

const TOKEN = `dash-${Math.random().toString(36).slice(2)}`;
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = new URL('../../artifacts/dashboard/', import.meta.url).pathname;
const VOLUMES = JSON.stringify({ 'Right Kidney': '125 ml', 'Left Kidney': '132 ml' });
/** The launch flags: nothing phones home, nothing is downloaded, no GPU on a CI machine. */
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let sidecar: RunningSidecar;
let listener: MllpListener | undefined;
let context: BrowserContext;
let page: Page;
let profile: string;
const problems: string[] = [];
const studies: Record<'failing' | 'invalid' | 'done' | 'live', string> = { failing: '', invalid: '', done: '', live: '' };
const uids: Record<string, string> = {};

async function mark(key: keyof typeof studies, body: string): Promise<void> {
  const response = await fetch(`${sidecar.url}/studies/${uids[key]}/kidney-volumes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body,
  });
  expect(response.status).toBe(202);
}

function row(key: keyof typeof studies) {
  return page.locator(`tr[data-study="${studies[key]}"][data-state]`);
}

async function shot(name: string): Promise<string> {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

const orthanc = useOrthanc();
beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run "apt-get install chromium" or "bash .ci/run"`);
  mkdirSync(SHOTS, { recursive: true });
  const mllpPort = await freePort();
  for (const [key, name, id] of [
    ['failing', 'Failing^Fiona', 'PID-FAIL'],
    ['invalid', 'Invalid^Ivan', 'PID-INV'],
    ['done', 'Done^Dora', 'PID-DONE'],
    ['live', 'Live^Leo', 'PID-LIVE'],
  ] as const) {
    const built = await uploadStudy(orthanc.client, ctStudy(1, { name, id }));
    studies[key] = built.orthancId;
    uids[key] = built.studyInstanceUid;
  }
  sidecar = await runSidecar({
    env: {
      ...orthanc.env,
      KV_API_TOKEN: TOKEN,
      KV_POLL_INTERVAL_MS: '200',
      KV_APPROACHES: 'sr,fhir',
      // The HL7 receiver is down at first: the first study fails with the real connection error.
      KV_HL7_MLLP: `127.0.0.1:${mllpPort}`,
      KV_HL7_TIMEOUT_MS: '3000',
      KV_DELIVERY_ATTEMPTS: '1',
      KV_MAX_ATTEMPTS: '1',
      KV_LOG_LEVEL: 'info',
    },
  });
  await mark('failing', VOLUMES);
  await waitForState(orthanc.client, studies.failing, ['failed']);
  listener = await startMllpListener(() => ({ code: 'AA' }), mllpPort);
  await mark('done', VOLUMES);
  // The API refuses invalid measurements (422); a tool writing straight into Orthanc does not.
  await orthanc.client.setStudyMetadata(studies.invalid, METADATA.pending, JSON.stringify({ 'Right Kidney': '-4 ml' }));
  await waitForState(orthanc.client, studies.done, ['done']);
  await waitForState(orthanc.client, studies.invalid, ['failed']);

  profile = mkdtempSync(join(tmpdir(), 'kv-chromium-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 800 } });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
}, 180_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await sidecar?.stop();
  await listener?.stop();
});

describe('the dashboard in a browser', () => {
  it('asks for the token, refuses a wrong one, and logs in with an HttpOnly SameSite=Strict cookie', async () => {
    await page.goto(sidecar.url);
    await page.locator('#login-form').waitFor();
    await shot('login-1280');
    await page.fill('#token', 'not-the-token');
    await page.click('#login-form button[type=submit]');
    await expect.poll(() => page.textContent('#login-error')).toContain('wrong token');
    await page.fill('#token', TOKEN);
    await page.click('#login-form button[type=submit]');
    await row('done').waitFor();
    // The wrong token's 401 is the one error the page was meant to meet so far.
    expect(problems).toEqual(['console: Failed to load resource: the server responded with a status of 401 (Unauthorized)']);
    problems.length = 0;
    const cookie = (await context.cookies()).find((c) => c.name === 'kv_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(cookie?.value).not.toContain(TOKEN);
  });

  it('lists the studies with their states, and a failure with its message in full', async () => {
    await expect.poll(() => row('done').getAttribute('data-state')).toBe('done');
    expect(await row('done').textContent()).toContain('Done Dora');
    expect(await row('failing').getAttribute('data-state')).toBe('failed');
    const failure = page.locator(`tr.error-row[data-study="${studies.failing}"]`);
    expect(await failure.textContent()).toMatch(/ECONNREFUSED|connection refused|refused/i);
    expect(await failure.textContent()).toContain(`retry with "kidney-volumes retry ${studies.failing}"`);
    expect(await page.locator(`tr.error-row[data-study="${studies.invalid}"]`).textContent()).toContain('"Right Kidney": volume must be positive, got "-4 ml"');
    await page.click('[data-filter=failed]');
    await expect.poll(() => page.locator('tr[data-state]').count()).toBe(2);
    await page.fill('#search', 'pid-inv');
    await expect.poll(() => page.locator('tr[data-state]').count()).toBe(1);
    await page.fill('#search', '');
    await page.click('[data-filter=all]');
    await expect.poll(() => page.locator('tr[data-state]').count()).toBe(3);
  });

  it('shows a study turning done while the page stays open', async () => {
    await page.evaluate('window.kvNoReload = true');
    await mark('live', VOLUMES);
    await expect.poll(() => row('live').getAttribute('data-state'), { timeout: 30_000 }).toBe('done');
    expect(await page.evaluate('window.kvNoReload')).toBe(true);
    expect(await page.textContent('#live')).toBe('live');
  });

  it('brings the failed study to done with the retry button once its cause is fixed', async () => {
    await row('failing').locator('a').click();
    await page.locator('#retry').waitFor();
    expect(await page.textContent('.card.failure')).toMatch(/refused/i);
    await shot('study-failed-1280');
    await page.click('#retry');
    await expect.poll(() => page.locator('.study-head .badge').getAttribute('data-state'), { timeout: 30_000 }).toBe('done');
    expect(await page.locator('.stored[data-approach=sr] h3').textContent()).toContain('✓');
    expect(await page.locator('.sr-tree').textContent()).toContain('Imaging Measurement Report');
    expect(await page.locator('.sr-tree').textContent()).toMatch(/125 mL/);
    await shot('study-done-1280');
    await page.click('text=‹ All studies');
    await expect.poll(() => row('failing').getAttribute('data-state')).toBe('done');
    expect(listener?.received.length).toBeGreaterThanOrEqual(3);
  });

  it('shows the health panel with its charts', async () => {
    await page.click('nav a[data-view=health]');
    await page.locator('#chart-done canvas').waitFor();
    expect(await page.textContent('.tiles')).toContain('reachable');
    await shot('health-1280');
  });

  it('reads well at 1280x800 and on a phone, light and dark', async () => {
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.goto(`${sidecar.url}/#/`);
      await page.reload();
      await row('failing').waitFor();
      expect(await page.evaluate('document.documentElement.dataset.theme')).toBe(scheme);
      await shot(`studies-1280-${scheme}`);
      await page.setViewportSize({ width: 390, height: 844 });
      await page.waitForTimeout(100);
      // On a phone the table turns into cards: no column is cut off to the right.
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
      await shot(`studies-phone-${scheme}`);
      await page.goto(`${sidecar.url}/#/study/${studies.done}`);
      await page.locator('.sr-tree').waitFor();
      await shot(`study-phone-${scheme}`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('loads nothing from outside and logs no errors in the page', () => {
    expect(problems).toEqual([]);
  });
});

describe('the dashboard API', () => {
  it('refuses the list without the token, and serves it with the bearer token', async () => {
    expect((await fetch(`${sidecar.url}/dashboard/api/studies`)).status).toBe(401);
    const answer = await fetch(`${sidecar.url}/dashboard/api/studies?state=done&q=dora`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { rows: { patientId: string }[] }).rows.map((r) => r.patientId)).toEqual(['PID-DONE']);
  });

  it('refuses a cookie-borne retry from another origin, and one without Origin', async () => {
    const cookie = (await context.cookies()).find((c) => c.name === 'kv_session');
    const headers = { cookie: `kv_session=${cookie?.value ?? ''}` };
    const foreign = await fetch(`${sidecar.url}/dashboard/api/studies/${studies.done}/retry`, { method: 'POST', headers: { ...headers, origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { error: { message: string } }).error.message).toContain('https://evil.example');
    expect((await fetch(`${sidecar.url}/dashboard/api/studies/${studies.done}/retry`, { method: 'POST', headers })).status).toBe(403);
    expect((await fetch(`${sidecar.url}/dashboard/login`, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'application/json' }, body: JSON.stringify({ token: TOKEN }) })).status).toBe(403);
  });

  it('accepts a retry with the bearer token and no Origin (curl)', async () => {
    const answer = await fetch(`${sidecar.url}/dashboard/api/studies/${studies.done}/retry`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(answer.status).toBe(202);
    await waitForState(orthanc.client, studies.done, ['done']);
  });
});
