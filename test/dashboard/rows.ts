/** Made-up index rows for the index tests and the benchmark. */
import type { RowState, StudyRow } from '../../src/index/row.js';

const STATES: readonly RowState[] = ['queued', 'processing', 'done', 'failed', 'deleted'];
const NAMES = ['Doe Jane', 'Smith John', 'Müller Anna', 'Tanaka Hiro', 'Okafor Ada', 'Rossi Marco', 'Nguyen Lan', 'Silva Ana'];

/** The n-th made-up study: deterministic, newest change last, every fifth failed-or-other state in turn. */
export function fakeRow(n: number, overrides: Partial<StudyRow> = {}): StudyRow {
  const at = new Date(Date.UTC(2024, 0, 1) + n * 60_000).toISOString();
  const hex = n.toString(16).padStart(8, '0');
  const state = STATES[n % STATES.length] as RowState;
  return {
    studyId: `${hex}-00000000-00000000-00000000-00000000`,
    studyInstanceUid: `1.2.826.0.1.3680043.10.${n}`,
    patientName: `${NAMES[n % NAMES.length]} ${n}`,
    patientId: `PID${String(n).padStart(7, '0')}`,
    accession: `ACC${String(n * 7).padStart(8, '0')}`,
    studyDate: '20240115',
    modalities: 'CT',
    state,
    attempts: state === 'failed' ? 5 : 1,
    error: state === 'failed' ? `connection refused by ris.example.org:2575 (study ${n})` : '',
    nextAttemptAt: '',
    updatedAt: at,
    markedAt: at,
    finishedAt: state === 'done' ? at : '',
    owner: '',
    digest: `digest-${n}`,
    ...overrides,
  };
}
