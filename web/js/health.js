// @ts-check
/** The health panel: Orthanc, the feeds, the queue, replicas, and the last hour as two small uPlot charts. */
import { api } from './api.js';
import { h, localTime } from './dom.js';

/** uPlot is loaded as a classic script from the package (no CDN); it is a global. */
const uPlot = /** @type {any} */ (window).uPlot;

/**
 * Renders the panel into `root`, refreshed every 10 s while shown; answers a function that stops.
 * @param {HTMLElement} root
 */
export function healthView(root) {
  root.replaceChildren(h('p', { class: 'loading' }, ['Loading…']));
  /** @type {any[]} */
  let charts = [];
  const load = async () => {
    try {
      const r = await api('/dashboard/api/health');
      charts.forEach((c) => c.destroy());
      charts = render(root, r);
    } catch (error) {
      root.replaceChildren(h('p', { class: 'error', role: 'alert' }, [error instanceof Error ? error.message : String(error)]));
    }
  };
  void load();
  const timer = window.setInterval(() => void load(), 10000);
  return () => {
    clearInterval(timer);
    charts.forEach((c) => c.destroy());
  };
}

/**
 * @param {HTMLElement} root
 * @param {any} r the API's HealthReport
 */
function render(root, r) {
  const ok = (/** @type {boolean} */ good, /** @type {string} */ text) => h('span', { class: good ? 'ok' : 'bad' }, [text]);
  const index = r.index;
  const doneChart = h('div', { class: 'chart', id: 'chart-done' });
  const latencyChart = h('div', { class: 'chart', id: 'chart-latency' });
  root.replaceChildren(
    h('div', { class: 'tiles' }, [
      tile('Orthanc', [r.orthanc.reachable ? ok(true, `reachable (${r.orthanc.version})`) : ok(false, `unreachable: ${r.orthanc.error}`)]),
      tile('Sidecar', [ok(r.sidecar.ready, r.sidecar.ready ? 'ready' : 'not ready'), h('small', {}, [` replica ${r.sidecar.replica}`])]),
      tile('Queue', [h('strong', {}, [String(r.sidecar.queueLength)]), ' studies waiting']),
      tile('Changes feed', [`position ${r.sidecar.cursor}, lag ${r.sidecar.lag}`]),
      tile('Study index', [
        index.rebuild ? `filling from Orthanc: ${index.rebuild.done} of ${index.rebuild.total}` : `position ${index.cursor ?? '–'}, lag ${index.lag}`,
        index.lastError ? h('div', { class: 'bad' }, [index.lastError]) : null,
      ]),
    ]),
    h('div', { class: 'charts' }, [
      h('section', { class: 'card' }, [h('h2', {}, ['Studies done per minute (last hour)']), doneChart]),
      h('section', { class: 'card' }, [h('h2', {}, ['Mark-to-done latency, seconds (last hour)']), latencyChart]),
    ]),
    h('section', { class: 'card' }, [
      h('h2', {}, ['Replicas seen']),
      r.replicas.length === 0
        ? h('p', {}, ['No replica has written a status yet.'])
        : h('table', { class: 'plain' }, [
            h('thead', {}, [h('tr', {}, [h('th', {}, ['Replica']), h('th', {}, ['Last status written'])])]),
            h('tbody', {}, r.replicas.map((/** @type {any} */ x) => h('tr', {}, [h('td', {}, [x.name]), h('td', {}, [localTime(x.lastSeen)])]))),
          ]),
    ]),
    h('p', { class: 'hint' }, [`As of ${localTime(r.at)}; refreshed every 10 s.`]),
  );
  if (!uPlot) return [];
  const style = getComputedStyle(document.documentElement);
  const ink = style.getPropertyValue('--ink').trim() || '#222';
  const accent = style.getPropertyValue('--accent').trim() || '#2a6fdb';
  const warn = style.getPropertyValue('--warn').trim() || '#c0392b';
  const grid = style.getPropertyValue('--line').trim() || '#ddd';
  const axes = [
    { stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid } },
    { stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid } },
  ];
  const width = (/** @type {HTMLElement} */ el) => Math.max(260, el.clientWidth || 300);
  const done = new uPlot(
    { width: width(doneChart), height: 160, legend: { show: false }, axes, series: [{}, { label: 'done', stroke: accent, fill: `${accent}33`, paths: uPlot.paths.bars({ size: [0.8] }) }], scales: { y: { range: (/** @type {any} */ _u, /** @type {number} */ _min, /** @type {number} */ max) => [0, Math.max(1, max)] } } },
    [r.chart.minutes, r.chart.done],
    doneChart,
  );
  const latency = new uPlot(
    { width: width(latencyChart), height: 160, axes, series: [{}, { label: 'median', stroke: accent, points: { show: true } }, { label: 'max', stroke: warn, dash: [4, 4], points: { show: true } }] },
    [r.chart.minutes, r.chart.latencyMedianS, r.chart.latencyMaxS],
    latencyChart,
  );
  return [done, latency];
}

/**
 * @param {string} title
 * @param {(Node | string | null)[]} children
 */
function tile(title, children) {
  return h('section', { class: 'tile' }, [h('h2', {}, [title]), h('div', {}, children)]);
}
