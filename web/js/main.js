// @ts-check
/** The dashboard's entry: login, theme, routing between the list, a study and health, and the live feed. */
import { api, whenUnauthorized } from './api.js';
import { healthView } from './health.js';
import { follow } from './live.js';
import { studiesView } from './studies.js';
import { studyView } from './study.js';

// A failed background load must not vanish silently: it goes to the console, where an admin (and the browser tests) look.
window.addEventListener('unhandledrejection', (event) => console.error('dashboard:', event.reason));

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const view = $('view');

/** @type {{ onEvent?: (event: any) => void, reload?: () => void, stop?: () => void }} */
let current = {};
/** @type {(() => void) | undefined} */
let stopLive;

// Theme: the system's choice until the user picks one, then theirs (kept in this browser).
const THEMES = ['light', 'dark'];
function applyTheme() {
  const saved = localStorage.getItem('kv-theme');
  const theme = saved && THEMES.includes(saved) ? saved : matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  document.documentElement.dataset['theme'] = theme;
  $('theme').textContent = theme === 'dark' ? 'Light theme' : 'Dark theme';
}
$('theme').addEventListener('click', () => {
  localStorage.setItem('kv-theme', document.documentElement.dataset['theme'] === 'dark' ? 'light' : 'dark');
  applyTheme();
// A reading room's screen may switch to dark at night: follow it unless the user chose.
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', applyTheme);
  route();
});
applyTheme();

function showLogin() {
  stopLive?.();
  stopLive = undefined;
  current.stop?.();
  current = {};
  view.replaceChildren();
  $('login').hidden = false;
  $('nav').hidden = true;
  $('logout').hidden = true;
  $('live').hidden = true;
  /** @type {HTMLInputElement} */ ($('token')).focus();
}
whenUnauthorized(showLogin);

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('token'));
  $('login-error').textContent = '';
  try {
    await api('/dashboard/login', { method: 'POST', body: { token: input.value } });
    input.value = '';
    start();
  } catch (error) {
    $('login-error').textContent = error instanceof Error ? error.message : String(error);
  }
});

$('logout').addEventListener('click', async () => {
  await api('/dashboard/logout', { method: 'POST' }).catch(() => undefined);
  showLogin();
});

function route() {
  current.stop?.();
  current = {};
  const hash = location.hash || '#/';
  const study = /^#\/study\/([0-9a-f-]{44})$/.exec(hash);
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.getAttribute('data-view') === (hash === '#/health' ? 'health' : 'studies'));
  if (study?.[1]) current = studyView(view, study[1]);
  else if (hash === '#/health') current = { stop: healthView(view) };
  else current = studiesView(view);
}
window.addEventListener('hashchange', () => {
  if ($('login').hidden) route();
});

function start() {
  $('login').hidden = true;
  $('nav').hidden = false;
  $('logout').hidden = false;
  const live = $('live');
  live.hidden = false;
  stopLive ??= follow(
    (event) => current.onEvent?.(event),
    (state) => {
      live.textContent = state === 'live' ? 'live' : 'reconnecting…';
      live.dataset['state'] = state;
    },
    () => current.reload?.(),
  );
  route();
}

api('/dashboard/session').then((session) => (session?.loggedIn ? start() : showLogin()), () => showLogin());
