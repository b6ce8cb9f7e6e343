/**
 * The KidneyVolInfo block of an ellipsoid estimate (issue 16, part 3), on files without Orthanc:
 * the estimate text and the diameters in mm sit at the index of the measurement's line, in explicit
 * and implicit VR little endian and in big endian, read back by creator and by dcmtk's dcmdump.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { derivePrivateCopy } from '../../src/dicom/private-tags/derive.js';
import { blockContent } from '../../src/dicom/private-tags/layout.js';
import { readKidneyBlock } from '../../src/dicom/private-tags/read.js';
import { parseMeasurementsObject } from '../../src/measurements/parse.js';
import { buildStudy, ctStudy } from '../fixtures/studies.js';

const work = mkdtempSync(join(tmpdir(), 'kv-us-private-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const SET = parseMeasurementsObject({ 'Right Kidney': '125 ml', 'Left Kidney': { length: '10.8 cm', width: '51 mm', depth: '4.65 cm' } });

function convert(bytes: Buffer, flag: string | undefined, name: string): Buffer {
  if (flag === undefined) return bytes;
  const [input, output] = [join(work, `${name}-in.dcm`), join(work, `${name}-out.dcm`)];
  writeFileSync(input, bytes);
  execFileSync('dcmconv', [flag, input, output], { stdio: 'pipe' });
  return readFileSync(output);
}

describe('the private block of an ellipsoid estimate', () => {
  it.each([
    ['explicit VR little endian', undefined],
    ['implicit VR little endian', '+ti'],
    ['explicit VR big endian', '+tb'],
  ])('in %s: text at (0011,1081) and FD mm at (0011,10B1), beside the line of the left kidney', (name, flag) => {
    const source = convert(buildStudy(ctStudy(1)).files[0] as Buffer, flag, name.replace(/\s/g, '-'));
    const copy = derivePrivateCopy(source, { seriesInstanceUid: '1.2.826.0.1.3680043.10.1526.98.1', sopInstanceUid: '1.2.826.0.1.3680043.10.1526.98.1.1', content: blockContent(SET, '1.2.3.4.5') }).bytes;
    const block = readKidneyBlock(copy);
    expect(block?.lines).toEqual(['Right Kidney: 125 ml', 'Left Kidney: 130 ml']);
    expect(block?.estimates).toEqual([{ index: 1, text: 'ellipsoid estimate pi/6 x L x W x D: 10.8 cm x 51 mm x 4.65 cm', diametersMm: [108, 51, 46.5] }]);
    const file = join(work, `${name.replace(/\s/g, '-')}-copy.dcm`);
    writeFileSync(file, copy);
    const dump = execFileSync('dcmdump', ['+L', file], { encoding: 'utf8' });
    if (flag === '+ti') {
      // Implicit VR carries no VR, and dcmdump has no dictionary for our creator: it shows the tags, 62 and 24 bytes.
      expect(dump).toMatch(/\(0011,1081\) \?\? .*# +62, 1/);
      expect(dump).toMatch(/\(0011,10b1\) \?\? .*# +24, 1/);
    } else {
      expect(dump).toMatch(/\(0011,1081\) LO \[ellipsoid estimate pi\/6 x L x W x D: 10\.8 cm x 51 mm x 4\.65 cm\]/);
      expect(dump).toMatch(/\(0011,10b1\) FD 108\\51\\46\.5/);
    }
    expect(dump).not.toMatch(/\(0011,1080\)/);
  });
});
