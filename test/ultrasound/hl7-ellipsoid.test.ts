/**
 * The ORU of an ellipsoid estimate (issue 16, part 3), read back with node-hl7-client: OBX-17 codes
 * the method DCM 121221 with the diameters as original text, and one OBX per diameter follows the
 * volumes under the volume's sub-ID. A volume given directly keeps its OBX as before.
 */
import { Message } from 'node-hl7-client';
import { describe, expect, test } from 'vitest';
import { oruR01 } from '../../src/delivery/hl7/oru.js';
import { parseMeasurementsObject } from '../../src/measurements/parse.js';
import { FACTS, NOW } from '../delivery/fixtures.js';

const OPTIONS = { sender: { application: 'KIDNEY_VOLUMES', facility: 'RAD' }, receiver: { application: 'RIS', facility: 'HOSP' } };
const SET = parseMeasurementsObject({ 'Right Kidney': { length: '11.2 cm', width: '5.10 cm', depth: '4.80 cm' }, 'Left Kidney': '132 ml' });

describe('ORU^R01 of an ultrasound estimate', () => {
  const built = oruR01(FACTS, SET, NOW, OPTIONS);
  const message = new Message({ text: built.text });
  const obx: string[][] = [];
  message.get('OBX').forEach((s) => obx.push(['1', '3.1', '3.3', '3.9', '4', '5', '6.1', '11', '17.1', '17.3', '17.9'].map((f) => s.get(f).toString())));

  test('the volume says it is an ellipsoid estimate; its three diameters follow as OBX n.1 to n.3', () => {
    expect(obx).toEqual([
      ['1', '118565006', 'SCT', 'Right Kidney', '1', '144', 'mL', 'F', '121221', 'DCM', 'ellipsoid estimate pi/6 x length x width x depth (11.2 x 5.10 x 4.80 cm)'],
      ['2', '118565006', 'SCT', 'Left Kidney', '2', '132', 'mL', 'F', '', '', ''],
      ['3', '410668003', 'SCT', 'Right Kidney length', '1.1', '11.2', 'cm', 'F', '', '', ''],
      ['4', '103355008', 'SCT', 'Right Kidney width', '1.2', '5.10', 'cm', 'F', '', '', ''],
      ['5', '131197000', 'SCT', 'Right Kidney depth', '1.3', '4.80', 'cm', 'F', '', '', ''],
    ]);
  });

  test('a set without diameters gives the message it gave before: two OBX, no method', () => {
    const plain = oruR01(FACTS, parseMeasurementsObject({ 'Right Kidney': '144 ml', 'Left Kidney': '132 ml' }), NOW, OPTIONS);
    expect(plain.text.split('\r').filter((s) => s.startsWith('OBX'))).toHaveLength(2);
    expect(plain.text).not.toContain('121221');
  });
});
