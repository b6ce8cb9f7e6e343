/** Finding a study as a radiographer would: by name, patient ID, accession or date; newest first; in pages. */
import type { OrthancClient } from '../orthanc/client.js';
import { patientMainTags, studyMainTags } from '../study/main-tags.js';
import type { OrthancStudy } from '../orthanc/types.js';

/** What one row of the picker shows: enough to tell two studies of the same patient apart. */
export interface StudyRow {
  readonly id: string;
  readonly patientName: string;
  readonly patientId: string;
  readonly accession: string;
  /** StudyDate as YYYY-MM-DD, or '' when absent. */
  readonly date: string;
  readonly time: string;
  readonly description: string;
}

/** A row with what only the study's series tell: modalities and number of images. */
export interface DescribedRow extends StudyRow {
  readonly modalities: readonly string[];
  readonly images: number;
}

/**
 * Orthanc query keys for a search text. A date (2024-01-15, 20240115, or a range of either joined
 * by "..") searches StudyDate; anything else is looked for inside the patient's name, ID and the
 * accession number. Orthanc's own wildcards in the text are kept, so "DOE*" works as it does in
 * Orthanc Explorer.
 */
export function queriesFor(text: string): Record<string, string>[] {
  const term = text.trim();
  if (term === '') return [{}];
  const date = dateQuery(term);
  if (date !== undefined) return [{ StudyDate: date }];
  const pattern = /[*?]/.test(term) ? term : `*${term}*`;
  return [{ PatientName: pattern }, { PatientID: pattern }, { AccessionNumber: pattern }];
}

/** Every study matching the search, newest first (by StudyDate and StudyTime; undated ones last). */
export async function searchStudies(client: OrthancClient, text: string): Promise<StudyRow[]> {
  const found = new Map<string, OrthancStudy>();
  for (const query of queriesFor(text)) for (const study of await client.findStudiesExpanded(query)) found.set(study.ID, study);
  return [...found.values()].map(rowOf).sort(newestFirst);
}

/** Adds modalities and image counts to the rows of one page (one request per study, so only for what is shown). */
export async function describeRows(client: OrthancClient, rows: readonly StudyRow[]): Promise<DescribedRow[]> {
  return Promise.all(
    rows.map(async (row) => {
      const series = await client.studySeries(row.id);
      const modalities = [...new Set(series.map((s) => s.MainDicomTags['Modality'] ?? '').filter((m) => m !== ''))].sort();
      return { ...row, modalities, images: series.reduce((n, s) => n + s.Instances.length, 0) };
    }),
  );
}

/** One line of the picker: name, ID, accession, date, modalities, images (aligned for a terminal). */
export function rowLabel(row: DescribedRow): string {
  const cells = [
    (row.patientName || '(no name)').padEnd(24).slice(0, 24),
    `ID ${row.patientId || '-'}`.padEnd(16).slice(0, 16),
    `Acc ${row.accession || '-'}`.padEnd(16).slice(0, 16),
    (row.date || 'no date').padEnd(10),
    (row.modalities.join('/') || '-').padEnd(7),
    `${row.images} image${row.images === 1 ? '' : 's'}`,
  ];
  return cells.join('  ');
}

/** YYYYMMDD as YYYY-MM-DD; anything else as it is. */
export function displayDate(dicomDate: string | undefined): string {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(dicomDate ?? '');
  return m ? `${m[1]}-${m[2]}-${m[3]}` : (dicomDate ?? '');
}

function dateQuery(term: string): string | undefined {
  const one = (t: string): string | undefined => {
    const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(t.trim());
    return m ? `${m[1]}${m[2]}${m[3]}` : undefined;
  };
  const [from, to, ...rest] = term.split('..');
  if (rest.length > 0 || from === undefined) return undefined;
  if (to === undefined) return one(from);
  const [a, b] = [one(from), one(to)];
  return a !== undefined && b !== undefined ? `${a}-${b}` : undefined;
}

function rowOf(study: OrthancStudy): StudyRow {
  const { accessionNumber, studyDate, studyTime, studyDescription } = studyMainTags(study);
  const { patientName, patientId } = patientMainTags(study);
  return { id: study.ID, patientName, patientId, accession: accessionNumber, date: displayDate(studyDate), time: studyTime, description: studyDescription };
}

function newestFirst(a: StudyRow, b: StudyRow): number {
  const key = (r: StudyRow) => (r.date === '' ? '' : `${r.date}T${r.time}`);
  const [ka, kb] = [key(a), key(b)];
  if (ka === kb) return a.id.localeCompare(b.id);
  return ka < kb ? 1 : -1;
}
