// @ts-check
/** The studies list: filters by state, search, newest change first, pages of 50, rows that change live. */
import { api } from './api.js';
import { ago, badge, dicomDate, h, localTime } from './dom.js';

/**
 * @typedef {{ studyId: string, studyInstanceUid: string, patientName: string, patientId: string, accession: string,
 *   studyDate: string, modalities: string, state: string, attempts: number, error: string, nextAttemptAt: string,
 *   updatedAt: string, markedAt: string, finishedAt: string, owner: string }} StudyRow
 * @typedef {{ rows: StudyRow[], total: number, page: number, pageSize: number, counts: Record<string, number> }} ListPage
 * @typedef {{ approach: string, done: number, total: number }} StepProgress
 * @typedef {{ kind: string, studyId: string, approach?: string, done?: number, total?: number }} LiveEvent
 */

const STATES = ['queued', 'processing', 'done', 'failed', 'deleted'];
const PAGE_SIZE = 50;
/**
 * Events that mean a study has marks, so a row to fetch when it is not on the page yet. Not
 * `queued`: the sidecar queues every new study it sees, marked or not, and a study without marks
 * has no row (404, which the browser logs as an error).
 */
const ROW_EVENTS = new Set(['processing', 'retrying', 'done', 'failed']);

/** The list's state, kept across visits to a study's page. */
const query = { state: '', q: '', page: 1 };

/**
 * Renders the list into `root`; answers a handler for live events.
 * @param {HTMLElement} root
 * @returns {{ onEvent: (event: LiveEvent) => void, reload: () => void }}
 */
export function studiesView(root) {
  const filters = h('div', { class: 'filters', role: 'group', 'aria-label': 'Filter by state' });
  const search = /** @type {HTMLInputElement} */ (
    h('input', { type: 'search', id: 'search', placeholder: 'Patient name, ID, accession or StudyInstanceUID', 'aria-label': 'Search', value: query.q })
  );
  const tbody = h('tbody');
  const table = h('table', { class: 'studies' }, [
    h('thead', {}, [h('tr', {}, ['Patient', 'Patient ID', 'Accession', 'Study date', 'Modality', 'State', 'Attempts', 'Last change'].map((t) => h('th', { scope: 'col' }, [t])))]),
    tbody,
  ]);
  const pager = h('div', { class: 'pager' });
  const empty = h('p', { class: 'empty', hidden: true }, ['No studies match.']);
  root.replaceChildren(h('div', { class: 'toolbar' }, [filters, search]), h('div', { class: 'table-wrap' }, [table]), empty, pager);

  /** @type {Map<string, StudyRow>} */
  const shown = new Map();
  // The sidecar's progress reports for studies in hand, kept so that a row redrawn (its own refetch,
  // a page load) still shows how far its study is; a state event other than processing ends it.
  /** @type {Map<string, StepProgress>} */
  const progressOf = new Map();
  const redraw = (/** @type {StudyRow} */ row) => {
    const old = tbody.querySelectorAll(`tr[data-study="${CSS.escape(row.studyId)}"]`);
    if (old.length === 0) return;
    old[0]?.before(...rowElements(row, progressOf.get(row.studyId)));
    old.forEach((e) => e.remove());
  };
  let generation = 0;

  const load = async () => {
    const mine = ++generation;
    const params = new URLSearchParams({ page: String(query.page), pageSize: String(PAGE_SIZE) });
    if (query.state) params.set('state', query.state);
    if (query.q) params.set('q', query.q);
    /** @type {ListPage} */
    const page = await api(`/dashboard/api/studies?${params}`);
    if (mine !== generation) return;
    renderFilters(page.counts);
    shown.clear();
    tbody.replaceChildren(...page.rows.flatMap((row) => {
      shown.set(row.studyId, row);
      return rowElements(row, progressOf.get(row.studyId));
    }));
    empty.hidden = page.rows.length > 0;
    renderPager(page);
  };

  /** @param {Record<string, number>} counts */
  const renderFilters = (counts) => {
    const total = STATES.reduce((n, s) => n + (counts[s] ?? 0), 0);
    const chip = (/** @type {string} */ state, /** @type {string} */ label, /** @type {number} */ n) => {
      const button = h('button', { type: 'button', class: 'chip', 'aria-pressed': String(query.state === state), 'data-filter': state || 'all' }, [label, h('span', { class: 'count' }, [String(n)])]);
      button.addEventListener('click', () => {
        query.state = state;
        query.page = 1;
        void load();
      });
      return button;
    };
    filters.replaceChildren(chip('', 'all', total), ...STATES.map((s) => chip(s, s, counts[s] ?? 0)));
  };

  /** @param {ListPage} page */
  const renderPager = (page) => {
    const first = page.total === 0 ? 0 : (page.page - 1) * page.pageSize + 1;
    const last = Math.min(page.total, page.page * page.pageSize);
    const pages = Math.max(1, Math.ceil(page.total / page.pageSize));
    const previous = h('button', { type: 'button', class: 'ghost', disabled: page.page <= 1 }, ['‹ Newer']);
    const next = h('button', { type: 'button', class: 'ghost', disabled: page.page >= pages }, ['Older ›']);
    previous.addEventListener('click', () => {
      query.page = Math.max(1, query.page - 1);
      void load();
    });
    next.addEventListener('click', () => {
      query.page += 1;
      void load();
    });
    pager.replaceChildren(previous, h('span', {}, [`${first.toLocaleString()}–${last.toLocaleString()} of ${page.total.toLocaleString()} · page ${page.page} of ${pages}`]), next);
  };

  let searchTimer = 0;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = window.setTimeout(() => {
      query.q = search.value.trim();
      query.page = 1;
      void load();
    }, 250);
  });

  // Events come in bursts (a feed page names many studies): refetch each visible row once, and the
  // page (for counts and new rows) at most once a second.
  /** @type {Map<string, number>} */
  const rowTimers = new Map();
  let pageTimer = 0;
  const refreshRow = async (/** @type {string} */ studyId) => {
    try {
      /** @type {StudyRow} */
      const row = await api(`/dashboard/api/studies/${studyId}/row`);
      if (!shown.has(studyId)) return;
      shown.set(studyId, row);
      redraw(row);
    } catch {
      // A study without marks (the feed names every study it sees): nothing to show.
    }
  };
  // A study not on the page yet (just marked, or newly in hand): its row is fetched at once and put
  // first, as the list is newest change first, rather than waiting for the next page load (which
  // comes up to a second later: a small study can be done by then and never show as processing).
  // Only on the first page without a search: elsewhere the page load decides where it belongs.
  const insertRow = async (/** @type {string} */ studyId) => {
    try {
      /** @type {StudyRow} */
      const row = await api(`/dashboard/api/studies/${studyId}/row`);
      if (query.page !== 1 || query.q) return;
      if (shown.has(studyId)) {
        shown.set(studyId, row);
        redraw(row);
        return;
      }
      const inHand = progressOf.has(studyId) && row.state === 'queued';
      if (query.state && query.state !== row.state && !(query.state === 'processing' && inHand)) return;
      shown.set(studyId, row);
      tbody.prepend(...rowElements(row, progressOf.get(studyId)));
      empty.hidden = true;
      for (const extra of [...shown.keys()].slice(PAGE_SIZE)) {
        shown.delete(extra);
        tbody.querySelectorAll(`tr[data-study="${CSS.escape(extra)}"]`).forEach((e) => e.remove());
      }
    } catch {
      // A study without marks (the feed names every study it sees): nothing to show.
    }
  };
  void load();
  return {
    onEvent: (event) => {
      if (event.kind === 'progress') {
        // Several a second while a study is copied: drawn in place, nothing fetched. Kept for a row
        // not shown yet (its fetch is on the way), until the study's next state event.
        progressOf.set(event.studyId, { approach: String(event.approach ?? ''), done: Number(event.done ?? 0), total: Number(event.total ?? 0) });
        const row = shown.get(event.studyId);
        if (row !== undefined) redraw(row);
        return;
      }
      if (event.kind !== 'processing') progressOf.delete(event.studyId);
      const newRow = query.page === 1 && !query.q && ROW_EVENTS.has(event.kind);
      const fetchRow = shown.has(event.studyId) ? refreshRow : newRow ? insertRow : undefined;
      if (fetchRow !== undefined) {
        clearTimeout(rowTimers.get(event.studyId));
        rowTimers.set(event.studyId, window.setTimeout(() => void fetchRow(event.studyId), 150));
      }
      if (!pageTimer) {
        pageTimer = window.setTimeout(() => {
          pageTimer = 0;
          void load();
        }, 1000);
      }
    },
    reload: () => void load(),
  };
}

/**
 * A study's table row, and for an error a second row with the message in full. A study the
 * sidecar reports progress for is in hand even when the index (fed from the changes feed, a
 * moment behind) still says queued: it shows as processing, with its step's count.
 * @param {StudyRow} row
 * @param {StepProgress | undefined} progress
 * @returns {HTMLElement[]}
 */
function rowElements(row, progress) {
  const link = h('a', { href: `#/study/${row.studyId}` }, [row.patientName || '(no name)']);
  const inHand = progress !== undefined && (row.state === 'queued' || row.state === 'processing');
  const shownState = inHand ? 'processing' : row.state;
  const state = h('td', { 'data-label': 'State' }, [badge(shownState)]);
  if (inHand) state.append(h('small', { class: 'progress', 'data-progress': `${progress.done}/${progress.total}` }, [` — ${progress.approach} ${progress.done}/${progress.total}`]));
  if (row.state === 'processing' && row.nextAttemptAt) state.append(h('small', { class: 'hint' }, [` next attempt ${localTime(row.nextAttemptAt)}`]));
  const main = h('tr', { 'data-study': row.studyId, 'data-state': shownState, class: row.error ? 'has-error' : undefined }, [
    h('td', { 'data-label': 'Patient', class: 'patient' }, [link]),
    h('td', { 'data-label': 'Patient ID' }, [row.patientId]),
    h('td', { 'data-label': 'Accession' }, [row.accession]),
    h('td', { 'data-label': 'Study date' }, [dicomDate(row.studyDate)]),
    h('td', { 'data-label': 'Modality' }, [row.modalities.replace(/\\/g, ', ')]),
    state,
    h('td', { 'data-label': 'Attempts', class: 'num' }, [String(row.attempts)]),
    h('td', { 'data-label': 'Last change', title: localTime(row.updatedAt) }, [ago(row.updatedAt)]),
  ]);
  if (!row.error) return [main];
  const message = h('tr', { 'data-study': row.studyId, class: 'error-row' }, [h('td', { colspan: '8' }, [h('span', { class: 'error-text' }, [row.error])])]);
  return [main, message];
}
