// @ts-check
/** A study's page: measurements and their source, each output as verified, the SR tree, the FHIR Bundle, deliveries. */
import { api } from './api.js';
import { badge, dicomDate, h, localTime } from './dom.js';

/**
 * @typedef {{ path: string, relationship: string, valueType: string, concept: string, value: string, children: SrNode[] }} SrNode
 * @typedef {{ approach: string, found: boolean, summary: string, details: Record<string, unknown> }} Stored
 */

const TITLES = /** @type {Record<string, string>} */ ({ sr: 'DICOM SR', fhir: 'FHIR Observations', private: 'Private tags' });

/**
 * Renders the page of one study into `root`; answers a handler for live events.
 * @param {HTMLElement} root
 * @param {string} studyId
 */
export function studyView(root, studyId) {
  root.replaceChildren(h('p', { class: 'loading' }, ['Loading…']));
  let timer = 0;
  const load = async () => {
    try {
      render(root, await api(`/dashboard/api/studies/${studyId}`), load);
    } catch (error) {
      root.replaceChildren(h('p', { class: 'error', role: 'alert' }, [error instanceof Error ? error.message : String(error)]));
    }
  };
  void load();
  return {
    onEvent: (/** @type {{ kind: string, studyId: string }} */ event) => {
      // Progress reports come twice a second while the study is in hand: the page reloads on state changes only.
      if (event.studyId !== studyId || event.kind === 'progress') return;
      clearTimeout(timer);
      timer = window.setTimeout(() => void load(), 300);
    },
    reload: () => void load(),
  };
}

/**
 * @param {HTMLElement} root
 * @param {any} d the API's StudyDetail
 * @param {() => Promise<void>} reload
 */
function render(root, d, reload) {
  const row = d.row ?? {};
  const status = d.status ?? {};
  const state = row.state ?? status.state ?? 'unknown';
  const retry = h('button', { type: 'button', id: 'retry' }, ['Retry']);
  const retryNote = h('span', { class: 'note', role: 'status' });
  retry.addEventListener('click', async () => {
    retry.setAttribute('disabled', '');
    retryNote.textContent = 'Asking the sidecar to process the study again…';
    try {
      const answer = await api(`/dashboard/api/studies/${d.studyId}/retry`, { method: 'POST' });
      retryNote.textContent = `Queued again (was ${answer.previous}).`;
      await reload();
    } catch (error) {
      retryNote.textContent = error instanceof Error ? error.message : String(error);
      retry.removeAttribute('disabled');
    }
  });
  const copy = h('button', { type: 'button', class: 'ghost', id: 'copy-verify' }, ['Copy verify command']);
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(d.verifyCommand);
      retryNote.textContent = `Copied: ${d.verifyCommand}`;
    } catch {
      // Clipboard access needs https or localhost: show the command to copy by hand.
      retryNote.textContent = d.verifyCommand;
    }
  });
  const links = h('span', { class: 'links' }, [
    h('a', { href: d.links.explorer, target: '_blank', rel: 'noopener' }, ['Orthanc Explorer']),
    d.links.explorer2 ? h('a', { href: d.links.explorer2, target: '_blank', rel: 'noopener' }, ['Orthanc Explorer 2']) : null,
  ]);

  const parts = [
    h('p', {}, [h('a', { href: '#/' }, ['‹ All studies'])]),
    h('div', { class: 'study-head' }, [
      h('h1', {}, [row.patientName || (d.patientName ?? '').replace(/\^+/g, ' ').trim() || '(no name)', ' ', badge(state)]),
      h('dl', { class: 'facts' }, [
        ...pair('Patient ID', row.patientId),
        ...pair('Accession', row.accession),
        ...pair('Study date', dicomDate(row.studyDate ?? '')),
        ...pair('Modality', (row.modalities ?? '').replace(/\\/g, ', ')),
        ...pair('Series / images', `${d.seriesCount} / ${d.instanceCount}`),
        ...pair('StudyInstanceUID', d.studyInstanceUid),
        ...pair('Orthanc ID', d.studyId),
        ...pair('Attempts', String(status.attempts ?? row.attempts ?? 0)),
        ...pair('Last change', localTime(status.updatedAt ?? row.updatedAt ?? '')),
        ...pair('Replica', status.owner ?? row.owner ?? ''),
      ]),
      h('div', { class: 'actions' }, [retry, copy, links, retryNote]),
    ]),
    status.error ? h('section', { class: 'card failure' }, [h('h2', {}, ['Error']), h('p', { class: 'error-text' }, [status.error]), status.nextAttemptAt ? h('p', {}, [`Next attempt at ${localTime(status.nextAttemptAt)}`]) : null]) : null,
    measurements(status.measurements ?? []),
    h('section', { class: 'card' }, [h('h2', {}, ['Outputs, as read back from Orthanc']), ...(d.stored ?? []).map(storedCard)]),
    h('section', { class: 'card' }, [h('h2', {}, ['DICOM SR content tree']), d.srTree ? h('ol', { class: 'sr-tree' }, [srNode(d.srTree)]) : h('p', {}, [d.srProblem ?? 'No SR in this study.'])]),
    h('section', { class: 'card' }, [
      h('h2', {}, ['FHIR Bundle']),
      d.fhirBundle ? h('details', {}, [h('summary', {}, ['Show the Bundle kept in study metadata']), h('pre', {}, [JSON.stringify(d.fhirBundle, null, 2)])]) : h('p', {}, ['No FHIR Bundle in study metadata.']),
    ]),
    deliveries(status),
    h('section', { class: 'card' }, [h('h2', {}, ['Pending mark']), h('pre', {}, [typeof d.pending === 'string' ? d.pending : JSON.stringify(d.pending, null, 2)])]),
  ];
  root.replaceChildren(...parts.filter((p) => p !== null));
}

/**
 * @param {string} term
 * @param {string | undefined} value
 */
function pair(term, value) {
  return value ? [h('dt', {}, [term]), h('dd', {}, [value])] : [];
}

/** @param {any[]} list */
function measurements(list) {
  if (list.length === 0) return h('section', { class: 'card' }, [h('h2', {}, ['Measurements']), h('p', {}, ['None recorded yet.'])]);
  return h('section', { class: 'card' }, [
    h('h2', {}, ['Measurements']),
    h('table', { class: 'plain' }, [
      h('thead', {}, [h('tr', {}, ['Name', 'Volume (mL)', 'Anatomy', 'Method', 'Source'].map((t) => h('th', {}, [t])))]),
      h('tbody', {}, list.map((m) => h('tr', {}, [h('td', {}, [m.name]), h('td', { class: 'num' }, [String(m.valueMl)]), h('td', {}, [m.anatomy ?? '']), h('td', {}, [m.method ?? '']), h('td', {}, [sourceOf(m)])]))),
    ]),
  ]);
}

/** @param {any} m */
function sourceOf(m) {
  const source = typeof m.source === 'string' ? m.source : m.source ? JSON.stringify(m.source) : '';
  return m.segmentation ? `${source || 'SEG'} (${typeof m.segmentation === 'string' ? m.segmentation : JSON.stringify(m.segmentation)})` : source;
}

/** @param {Stored} s */
function storedCard(s) {
  return h('div', { class: `stored ${s.found ? 'found' : 'missing'}`, 'data-approach': s.approach }, [
    h('h3', {}, [s.found ? '✓ ' : '✗ ', TITLES[s.approach] ?? s.approach]),
    h('p', {}, [s.summary]),
    h('details', {}, [h('summary', {}, ['What was verified']), h('pre', {}, [JSON.stringify(s.details, null, 2)])]),
  ]);
}

/**
 * One SR content item and its children, as dsrdump prints them.
 * @param {SrNode} node
 * @returns {HTMLElement}
 */
function srNode(node) {
  const line = h('div', { class: 'sr-item' }, [
    h('span', { class: 'sr-path' }, [node.path]),
    node.relationship ? h('span', { class: 'sr-rel' }, [`<${node.relationship}>`]) : null,
    h('span', { class: 'sr-vt' }, [node.valueType]),
    h('span', { class: 'sr-concept' }, [node.concept]),
    node.value ? h('span', { class: 'sr-value' }, [`= ${node.value}`]) : null,
  ]);
  return h('li', {}, [line, node.children.length > 0 ? h('ol', {}, node.children.map(srNode)) : null]);
}

/** @param {any} status */
function deliveries(status) {
  const outputs = status.outputs ?? {};
  const names = Object.keys(outputs).filter((k) => !(k in TITLES));
  const writes = status.writes ?? [];
  return h('section', { class: 'card' }, [
    h('h2', {}, ['Deliveries and writes']),
    names.length === 0 ? h('p', {}, ['No deliveries configured or none made yet.']) : h('ul', {}, names.map((n) => h('li', {}, [h('strong', {}, [n]), ': ', String(outputs[n]?.summary ?? JSON.stringify(outputs[n]))]))),
    writes.length === 0
      ? null
      : h('table', { class: 'plain' }, [
          h('thead', {}, [h('tr', {}, ['When', 'What', 'Summary'].map((t) => h('th', {}, [t])))]),
          h('tbody', {}, writes.map((/** @type {any} */ w) => h('tr', {}, [h('td', {}, [localTime(w.at)]), h('td', {}, [w.approach + (w.alreadyPresent ? ' (already there)' : '')]), h('td', {}, [w.summary])]))),
        ]),
  ]);
}
