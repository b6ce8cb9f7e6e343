/**
 * The private-tag writer on files, without Orthanc: where the block goes, that every other byte
 * survives in every transfer syntax, and what dcmtk's parser and dciodvfy make of the copies.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareWithSource } from '../../src/dicom/private-tags/compare.js';
import { derivePrivateCopy, derivedSeriesDescription, derivedSeriesNumber } from '../../src/dicom/private-tags/derive.js';
import { blockContent, measurementLine } from '../../src/dicom/private-tags/layout.js';
import { parsePart10 } from '../../src/dicom/private-tags/part10-file.js';
import { readKidneyBlock } from '../../src/dicom/private-tags/read.js';
import { decodePart10, encodePart10 } from '../../src/dicom/part10.js';
import type { MeasurementSet } from '../../src/measurements/model.js';
import { buildStudy, ctStudy, type FixtureSeries } from '../fixtures/studies.js';
import { dciodvfy } from './validators.js';

const work = mkdtempSync(join(tmpdir(), 'kv-private-tags-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Right 125 ml, left 132 ml and a spleen, as the parser would give them. */
const MEASUREMENTS: MeasurementSet = {
  measurements: [
    { name: 'Right Kidney', valueMl: '125', volumeMl: 125, anatomy: 'right-kidney' },
    { name: 'Left Kidney', valueMl: '132', volumeMl: 132, anatomy: 'left-kidney' },
    { name: 'Spleen', valueMl: '210.5', volumeMl: 210.5, anatomy: 'spleen' },
  ],
  digest: 'a'.repeat(64),
};

let counter = 0;
/** Runs a dcmtk tool on the bytes: writes them to a file, runs `tool ...args in out`, answers out. */
function dcmtk(tool: string, args: readonly string[], bytes: Buffer): Buffer {
  const input = join(work, `in-${++counter}.dcm`);
  const output = join(work, `out-${counter}.dcm`);
  writeFileSync(input, bytes);
  execFileSync(tool, [...args, input, output], { stdio: 'pipe' });
  return readFileSync(output);
}

function image(series: Partial<FixtureSeries> = {}): Buffer {
  const built = buildStudy({ ...ctStudy(1), series: [{ modality: 'CT', images: 1, description: 'Abdomen CT', ...series }] });
  return built.files[0] as Buffer;
}

function copyOf(source: Buffer): Buffer {
  return derivePrivateCopy(source, {
    seriesInstanceUid: '1.2.826.0.1.3680043.10.1526.99.1',
    sopInstanceUid: '1.2.826.0.1.3680043.10.1526.99.1.1',
    content: blockContent(MEASUREMENTS, '1.2.3.4.5'),
  }).bytes;
}

function tagValues(bytes: Buffer): string {
  const file = join(work, `full-${++counter}.dcm`);
  writeFileSync(file, bytes);
  return execFileSync('dcmdump', ['+L', file], { encoding: 'utf8' });
}

describe('where the private block goes', () => {
  it('takes (0011,0010) in a clean image, with the documented layout', () => {
    const copy = copyOf(image());
    const block = readKidneyBlock(copy);
    expect(block).toMatchObject({ creator: 'KidneyVolInfo', slot: 0x10, digest: 'a'.repeat(64), sourceSeriesInstanceUid: '1.2.3.4.5' });
    expect(block?.lines).toEqual(['Right Kidney: 125 ml', 'Left Kidney: 132 ml', 'Spleen: 210.5 ml']);
    expect(block?.volumesMl).toEqual([125, 132, 210.5]);
    const dump = tagValues(copy);
    expect(dump).toMatch(/\(0011,0010\) LO \[KidneyVolInfo\]/);
    expect(dump).toMatch(/\(0011,1010\) LO \[Right Kidney: 125 ml\]/);
    expect(dump).toMatch(/\(0011,1011\) LO \[Left Kidney: 132 ml\]/);
    expect(dump).toMatch(/\(0011,1040\) FD 125\b/);
    expect(dump).toMatch(/\(0011,1071\) UI \[1\.2\.3\.4\.5\]/);
  });

  it("moves to (0011,0011) when GE owns (0011,0010), leaving GE's (0011,1010) as it was", () => {
    const source = image({ foreignCreator: true });
    const copy = copyOf(source);
    expect(readKidneyBlock(copy)?.slot).toBe(0x11);
    const dump = tagValues(copy);
    expect(dump).toMatch(/\(0011,0010\) LO \[GEMS_PATI_01\]/);
    expect(dump).toMatch(/\(0011,1010\) SS 2\b/);
    expect(dump).toMatch(/\(0011,0011\) LO \[KidneyVolInfo\]/);
    expect(dump).toMatch(/\(0011,1110\) LO \[Right Kidney: 125 ml\]/);
    expect(compareWithSource(source, copy)).toMatchObject({ changed: [], missing: [], added: [] });
  });

  it('takes (0011,0021) when slots 0x10 to 0x20 are taken', () => {
    const copy = copyOf(image({ crowdedCreators: true }));
    expect(readKidneyBlock(copy)?.slot).toBe(0x21);
    expect(tagValues(copy)).toMatch(/\(0011,2110\) LO \[Right Kidney: 125 ml\]/);
  });

  it('refuses to stamp an image that already carries our block', () => {
    expect(() => copyOf(copyOf(image()))).toThrow(/already carries a KidneyVolInfo block/);
  });
});

const SYNTAXES: readonly { name: string; uid: string; make: (b: Buffer) => Buffer }[] = [
  { name: 'explicit VR little endian', uid: '1.2.840.10008.1.2.1', make: (b) => b },
  { name: 'implicit VR little endian', uid: '1.2.840.10008.1.2', make: (b) => dcmtk('dcmconv', ['+ti'], b) },
  { name: 'explicit VR big endian', uid: '1.2.840.10008.1.2.2', make: (b) => dcmtk('dcmconv', ['+tb'], b) },
  { name: 'deflated', uid: '1.2.840.10008.1.2.1.99', make: (b) => dcmtk('dcmconv', ['+td'], b) },
  { name: 'JPEG lossless', uid: '1.2.840.10008.1.2.4.70', make: (b) => dcmtk('dcmcjpeg', [], b) },
  { name: 'JPEG-LS lossless', uid: '1.2.840.10008.1.2.4.80', make: (b) => dcmtk('dcmcjpls', [], b) },
  { name: 'RLE', uid: '1.2.840.10008.1.2.5', make: (b) => dcmtk('dcmcrle', [], b) },
  { name: 'with group lengths and undefined-length items', uid: '1.2.840.10008.1.2.1', make: (b) => dcmtk('dcmconv', ['+g', '-e'], b) },
];

describe('every other byte survives', () => {
  it.each(SYNTAXES)('in $name', ({ uid, make }) => {
    const source = make(withSequences(image({ foreignCreator: true })));
    const copy = copyOf(source);
    const parsed = parsePart10(copy);
    expect(parsed.transferSyntaxUid).toBe(uid);
    expect(compareWithSource(source, copy)).toEqual({ changed: [], missing: [], added: [], metaChanged: [], sameTransferSyntax: true });
    const pixels = (bytes: Buffer): Buffer => {
      const file = parsePart10(bytes);
      const element = file.elements.find((e) => e.tag === 0x7fe00010);
      return file.dataset.subarray(element?.start ?? 0, element?.end ?? 0);
    };
    expect(pixels(copy).length).toBeGreaterThan(0);
    expect(pixels(copy).equals(pixels(source))).toBe(true);
    expect(readKidneyBlock(copy)?.lines).toEqual(['Right Kidney: 125 ml', 'Left Kidney: 132 ml', 'Spleen: 210.5 ml']);
    expect(readKidneyBlock(copy)?.volumesMl).toEqual([125, 132, 210.5]);
    // dcmtk parses the whole copy, and finds the new identity, the reference and our block.
    const dump = tagValues(copy);
    expect(dump).toMatch(/\(0002,0003\) UI \[1\.2\.826\.0\.1\.3680043\.10\.1526\.99\.1\.1\]/);
    expect(dump).toMatch(/\(0008,0018\) UI \[1\.2\.826\.0\.1\.3680043\.10\.1526\.99\.1\.1\]/);
    expect(dump).toMatch(/\(0020,000e\) UI \[1\.2\.826\.0\.1\.3680043\.10\.1526\.99\.1\]/);
    expect(dump).toMatch(/\(0008,103e\) LO \[Abdomen CT \+ kidney volumes\]/);
    expect(dump).toMatch(/\(0020,0011\) IS \[1001\]/);
    expect(dump).toMatch(/\(0011,0011\) LO \[KidneyVolInfo\]/);
    expect(dump).toMatch(/\(0011,1010\) SS 2\b/);
    // The source already had a SourceImageSequence item: ours comes after it.
    const referenced = [...dump.matchAll(/\(0008,1155\) UI \[([\d.]+)\]/g)].map((m) => m[1]);
    expect(referenced).toContain('9.8.7.6');
    expect(referenced.at(-1)).toBe(dcmjsValue(source, 'SOPInstanceUID'));
  });

  it('keeps a source with undefined-length SourceImageSequence parseable after appending our item', () => {
    const source = dcmtk('dcmconv', ['-e'], withSequences(image()));
    expect(parsePart10(source).elements.find((e) => e.tag === 0x00082112)?.undefinedLength).toBe(true);
    const decoded = decodePart10(copyOf(source)).dataset;
    expect((decoded['SourceImageSequence'] as unknown[]).length).toBe(2);
    expect(decoded['DerivationDescription']).toContain('Copy of series 1.2.3.4.5');
  });
});

describe('derivation attributes', () => {
  it('numbers and describes the copy recognisably', () => {
    expect(derivedSeriesNumber('3')).toBe(1003);
    expect(derivedSeriesNumber(undefined)).toBe(1000);
    expect(derivedSeriesNumber('x')).toBe(1000);
    expect(derivedSeriesDescription('Abdomen CT', 1003)).toBe('Abdomen CT + kidney volumes');
    expect(derivedSeriesDescription(undefined, 1000)).toBe('Series 1000 + kidney volumes');
    expect(derivedSeriesDescription('x'.repeat(64), 1)).toHaveLength(64);
    expect(measurementLine({ name: 'A\\B é', valueMl: '1', volumeMl: 1 })).toBe('A?B ?: 1 ml');
  });

  it('adds no dciodvfy error the source does not have', async () => {
    const source = image({ foreignCreator: true });
    const [sourceFile, copyFile] = [join(work, 'dciodvfy-source.dcm'), join(work, 'dciodvfy-copy.dcm')];
    writeFileSync(sourceFile, source);
    writeFileSync(copyFile, copyOf(source));
    const before = new Set((await dciodvfy(sourceFile)).errors);
    const after = await dciodvfy(copyFile);
    expect(after.errors.filter((e) => !before.has(e))).toEqual([]);
  });
});

/** The fixture image plus an existing SourceImageSequence and another sequence, as dcmjs writes them. */
function withSequences(bytes: Buffer): Buffer {
  const { meta, dataset, raw } = decodePart10(bytes);
  const privateElements = Object.entries(raw)
    .filter(([tag]) => tag.startsWith('0011'))
    .map(([tag, element]) => ({ tag, vr: element.vr, values: element.Value }));
  const sequences = {
    ...dataset,
    SourceImageSequence: [{ ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: '9.8.7.6' }],
    ReferencedStudySequence: [{ ReferencedSOPClassUID: '1.2.840.10008.3.1.2.3.1', ReferencedSOPInstanceUID: '9.8.7.5' }],
  };
  return encodePart10(sequences, { transferSyntaxUid: String(meta['TransferSyntaxUID']), rawElements: privateElements });
}

function dcmjsValue(bytes: Buffer, keyword: string): unknown {
  return decodePart10(bytes).dataset[keyword];
}
