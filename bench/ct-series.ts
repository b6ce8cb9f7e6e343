/**
 * Synthetic CT series for benchmarks: N 512x512 images of one series, written to a folder one at
 * a time (from one template, changing only the SOP Instance UID and InstanceNumber), so the
 * generator itself stays small whatever N is.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXPLICIT_LE, Tag, tagOf } from '../src/dicom/private-tags/encoding.js';
import { elementBytes, textValue, uidValue } from '../src/dicom/private-tags/encode.js';
import { assemblePart10, parsePart10, splice } from '../src/dicom/private-tags/part10-file.js';
import { newUid } from '../src/uids.js';
import { buildStudy, ctStudy } from '../test/fixtures/studies.js';

const InstanceNumber = tagOf(0x0020, 0x0013);

/** Writes `count` images of one new CT series of one new study to `folder`; answers their paths. */
export function writeCtSeries(folder: string, count: number, options: { foreignCreator?: boolean } = {}): string[] {
  const series = { modality: 'CT' as const, images: 1, rows: 512, columns: 512, description: 'Bench CT', ...(options.foreignCreator ? { foreignCreator: true } : {}) };
  const template = buildStudy({ ...ctStudy(1), series: [series] }).files[0] as Buffer;
  const file = parsePart10(template);
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const uid = newUid();
    const datasetEdits = new Map([
      [Tag.SOPInstanceUID, elementBytes(Tag.SOPInstanceUID, 'UI', uidValue(uid), EXPLICIT_LE)],
      [InstanceNumber, elementBytes(InstanceNumber, 'IS', textValue(String(i + 1)), EXPLICIT_LE)],
    ]);
    const metaEdits = new Map([[Tag.MediaStorageSOPInstanceUID, elementBytes(Tag.MediaStorageSOPInstanceUID, 'UI', uidValue(uid), EXPLICIT_LE)]]);
    const path = join(folder, `${i}.dcm`);
    writeFileSync(path, assemblePart10(file, splice(file.meta, file.metaElements, metaEdits), splice(file.dataset, file.elements, datasetEdits)));
    paths.push(path);
  }
  return paths;
}
