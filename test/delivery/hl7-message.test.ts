import { Message } from 'node-hl7-client';
import { describe, expect, test } from 'vitest';
import { dtmFromDicom, escapeText } from '../../src/delivery/hl7/encoding.js';
import { controlIdOf, oruR01 } from '../../src/delivery/hl7/oru.js';
import { studyIdentity } from '../../src/study/identity.js';
import { FACTS, NOW, SET } from './fixtures.js';
import { buildKidneyVolumeBundle } from '../../src/fhir/bundle.js';
import { readKidneyVolumeBundle } from '../../src/fhir/read.js';
import { serializeResource } from '../../src/fhir/serialize.js';
import { resultVersionOf } from '../../src/fhir/versions.js';
import { buildSet } from '../../src/measurements/parse.js';
import type { StudyFacts } from '../../src/study/facts.js';

const OPTIONS = { sender: { application: 'KIDNEY_VOLUMES', facility: 'RAD' }, receiver: { application: 'RIS', facility: 'HOSP' } };

/** The parsed message's segments of one type, as the library lists them. */
function segments(message: Message, name: string) {
  const out: ReturnType<Message['get']>[] = [];
  message.get(name).forEach((s) => out.push(s));
  return out;
}

describe('ORU^R01 for one study, read back with node-hl7-client', () => {
  const built = oruR01(FACTS, SET, NOW, OPTIONS);
  const message = new Message({ text: built.text });

  test('MSH: sender, receiver, time, type, stable control ID, version, UTF-8', () => {
    expect(built.text.startsWith('MSH|^~\\&|KIDNEY_VOLUMES|RAD|RIS|HOSP|20240507080910+0000||ORU^R01^ORU_R01|')).toBe(true);
    expect(message.get('MSH.9.1').toString()).toBe('ORU');
    expect(message.get('MSH.9.2').toString()).toBe('R01');
    expect(message.get('MSH.9.3').toString()).toBe('ORU_R01');
    expect(message.get('MSH.10').toString()).toBe(built.controlId);
    expect(built.controlId).toMatch(/^[0-9A-F]{20}$/);
    expect(controlIdOf(studyIdentity(FACTS), SET.digest)).toBe(built.controlId);
    // Two patients' studies that share a StudyInstanceUID (two Orthanc studies) never share an MSH-10.
    expect(oruR01({ ...FACTS, orthancId: 'another-orthanc-study' }, SET, NOW, OPTIONS).controlId).not.toBe(built.controlId);
    expect(message.get('MSH.11').toString()).toBe('P');
    expect(message.get('MSH.12').toString()).toBe('2.5.1');
    expect(message.get('MSH.18').toString()).toBe('UNICODE UTF-8');
  });

  test('PID: identifier with issuer, every name group with its representation, escaped delimiters come back as text', () => {
    expect(message.get('PID.3.1').toString()).toBe('PID~7');
    expect(message.get('PID.3.4').toString()).toBe('HOSP\\A');
    expect(message.get('PID.3.5').toString()).toBe('PI');
    const names = message.get('PID.5').toArray();
    expect(names).toHaveLength(3);
    const [alphabetic, ideographic, phonetic] = names as [ReturnType<Message['get']>, ReturnType<Message['get']>, ReturnType<Message['get']>];
    expect(alphabetic.get('1').toString()).toBe("O'Brien-Smith|Jr");
    expect(alphabetic.get('2').toString()).toBe('Anne&Marie');
    expect(alphabetic.get('5').toString()).toBe('Dr');
    expect(alphabetic.get('8').toString()).toBe('A');
    expect([ideographic.get('1').toString(), ideographic.get('2').toString(), ideographic.get('8').toString()]).toEqual(['山田', '花子', 'I']);
    expect([phonetic.get('1').toString(), phonetic.get('2').toString(), phonetic.get('8').toString()]).toEqual(['やまだ', 'はなこ', 'P']);
    expect(message.get('PID.7').toString()).toBe('19700101');
    expect(message.get('PID.8').toString()).toBe('F');
  });

  test('OBR: accession number as filler order number and in OBR-18, CT procedure, study time with its zone, final', () => {
    expect(message.get('OBR.1').toString()).toBe('1');
    expect(message.get('OBR.3').toString()).toBe('ACC|42^x');
    expect(message.get('OBR.4.1').toString()).toBe('25045-6');
    expect(message.get('OBR.4.2').toString()).toBe('CT unspecified body region');
    expect(message.get('OBR.4.3').toString()).toBe('LN');
    expect(message.get('OBR.4.9').toString()).toBe('CT Abdomen & Pelvis');
    expect(message.get('OBR.7').toString()).toBe('20240115101530.1234+0100');
    expect(message.get('OBR.18').toString()).toBe('ACC|42^x');
    expect(message.get('OBR.22').toString()).toBe('20240507080910+0000');
    expect(message.get('OBR.25').toString()).toBe('F');
  });

  test('one OBX per measurement: NM, SCT Volume with the name, value as given in mL, UCUM, final, coded body site', () => {
    const obx = segments(message, 'OBX');
    expect(obx).toHaveLength(4);
    const rows = obx.map((s) => ({
      setId: s.get(1).toString(),
      type: s.get(2).toString(),
      code: [s.get('3.1').toString(), s.get('3.2').toString(), s.get('3.3').toString()],
      name: s.get('3.9').toString(),
      subId: s.get(4).toString(),
      value: s.get(5).toString(),
      units: [s.get('6.1').toString(), s.get('6.2').toString(), s.get('6.3').toString()],
      status: s.get(11).toString(),
      observed: s.get(14).toString(),
      site: [s.get('20.1').toString(), s.get('20.2').toString(), s.get('20.3').toString(), s.get('20.9').toString()],
    }));
    const common = { type: 'NM', code: ['118565006', 'Volume', 'SCT'], units: ['mL', 'milliliter', 'UCUM'], status: 'F', observed: '20240115101530.1234+0100' };
    expect(rows).toEqual([
      { ...common, setId: '1', subId: '1', name: 'Right Kidney', value: '125.50', site: ['9846003', 'Right kidney structure', 'SCT', ''] },
      { ...common, setId: '2', subId: '2', name: 'Left Kidney', value: '132', site: ['18639004', 'Left kidney structure', 'SCT', ''] },
      { ...common, setId: '3', subId: '3', name: 'Total Volume', value: '257.5', site: ['64033007', 'Kidney', 'SCT', 'Both kidneys'] },
      { ...common, setId: '4', subId: '4', name: 'Cyst ^1|a', value: '3.2', site: ['', '', '', ''] },
    ]);
    const first = obx[0] as ReturnType<Message['get']>;
    expect(first.get('17.2').toString()).toBe('manual contouring');
    expect(first.get(18).toString()).toBe('KidneySeg 2.1');
  });

  test('ZDS carries the StudyInstanceUID; segments end with carriage returns only', () => {
    expect(message.get('ZDS.1.1').toString()).toBe(FACTS.studyInstanceUid);
    expect(message.get('ZDS.1.4').toString()).toBe('DICOM');
    expect(built.text).not.toMatch(/\n/);
    expect(built.text.split('\r').filter((s) => s !== '').map((s) => s.slice(0, 3))).toEqual(['MSH', 'PID', 'OBR', 'OBX', 'OBX', 'OBX', 'OBX', 'ZDS']);
  });

  test('without an accession number OBR-3 carries the StudyInstanceUID and OBR-18 stays empty', () => {
    const plain = new Message({ text: oruR01({ ...FACTS, accessionNumber: '' }, SET, NOW, OPTIONS).text });
    expect(plain.get('OBR.3').toString()).toBe(FACTS.studyInstanceUid);
    expect(plain.get('OBR.18').toString()).toBe('');
  });
});

describe('HL7 text encoding', () => {
  test('every delimiter and line break is escaped, the escape character first', () => {
    expect(escapeText('a|b^c&d~e\\f\r\ng')).toBe('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X0D\\\\X0A\\g');
  });

  test('DICOM dates and times become DTM; no time without a date, no zone without a time', () => {
    expect(dtmFromDicom('20240115', '1015', '-0500')).toBe('202401151015-0500');
    expect(dtmFromDicom('2024.01.15', '10:15:30', undefined)).toBe('20240115101530');
    expect(dtmFromDicom('20240115', '', '+0100')).toBe('20240115');
    expect(dtmFromDicom('', '101530', '+0100')).toBe('');
  });
});

describe('issue 14: ORU^R01 for a new version of the measurements', () => {
  const facts: StudyFacts = { ...FACTS, orthancId: 'o-study' };
  const FIRST_AT = new Date('2024-05-06T07:00:00.000Z');
  const SECOND_AT = new Date('2024-05-06T08:00:00.000Z');
  const v1 = buildSet([
    { name: 'Right Kidney', value: '125 mL' },
    { name: 'Left Kidney', value: '132 mL' },
    { name: 'Total Volume', value: '257 mL' },
  ]);
  const v2 = buildSet([
    { name: 'Right Kidney', value: '130 mL' },
    { name: 'Left Kidney', value: '132 mL' },
  ]);
  const read = (b: ReturnType<typeof buildKidneyVolumeBundle>) => readKidneyVolumeBundle(serializeResource(b));
  const first = read(buildKidneyVolumeBundle(facts, v1, { now: FIRST_AT }));
  const second = read(buildKidneyVolumeBundle(facts, v2, { now: SECOND_AT, previous: first }));
  const rows = (text: string) => {
    const out: string[][] = [];
    new Message({ text }).get('OBX').forEach((s) => out.push([s.get(1).toString(), s.get('3.1').toString(), s.get('3.9').toString(), s.get(4).toString(), s.get(5).toString(), s.get(11).toString()]));
    return out;
  };

  test('the first version: OBR-25 F, every OBX F, sub-IDs 1..n', () => {
    const msg = oruR01(facts, v1, NOW, OPTIONS, resultVersionOf(first, v1));
    expect(new Message({ text: msg.text }).get('OBR.25').toString()).toBe('F');
    expect(rows(msg.text)).toEqual([
      ['1', '118565006', 'Right Kidney', '1', '125', 'F'],
      ['2', '118565006', 'Left Kidney', '2', '132', 'F'],
      ['3', '118565006', 'Total Volume', '3', '257', 'F'],
    ]);
    // The same as a message built without any version record (a Bundle-less first version), but for MSH-10.
    expect(rows(oruR01(facts, v1, NOW, OPTIONS).text)).toEqual(rows(msg.text));
  });

  test('a correction: OBR-25 C, the changed OBX C, the unchanged F, a removed one D without a value; OBX-3/OBX-4 as before', () => {
    const msg = oruR01(facts, v2, NOW, OPTIONS, resultVersionOf(second, v2));
    const parsed = new Message({ text: msg.text });
    expect(parsed.get('OBR.25').toString()).toBe('C');
    expect(rows(msg.text)).toEqual([
      ['1', '118565006', 'Right Kidney', '1', '130', 'C'],
      ['2', '118565006', 'Left Kidney', '2', '132', 'F'],
      ['3', '118565006', 'Total Volume', '3', '', 'D'],
    ]);
    const deleted = (parsed.get('OBX').toArray()[2] as ReturnType<Message['get']>).get('20.1').toString();
    expect(deleted).toBe('64033007');
  });

  test('MSH-10 differs between versions, stays for a resend of one version, and differs when a later version returns to earlier values', () => {
    const id1 = oruR01(facts, v1, NOW, OPTIONS, resultVersionOf(first, v1)).controlId;
    const id2 = oruR01(facts, v2, NOW, OPTIONS, resultVersionOf(second, v2)).controlId;
    expect(id2).not.toBe(id1);
    // A retry rebuilds the version from the stored Bundle: same version time, same MSH-10.
    const retry = read(buildKidneyVolumeBundle(facts, v2, { now: new Date('2024-05-09T00:00:00Z'), previous: second }));
    expect(oruR01(facts, v2, new Date('2024-05-09T00:00:00Z'), OPTIONS, resultVersionOf(retry, v2)).controlId).toBe(id2);
    // Back to the first values: same digest as version 1, another message.
    const third = read(buildKidneyVolumeBundle(facts, v1, { now: new Date('2024-05-07T00:00:00Z'), previous: second }));
    const msg3 = oruR01(facts, v1, NOW, OPTIONS, resultVersionOf(third, v1));
    expect(msg3.controlId).not.toBe(id1);
    expect(rows(msg3.text).map((r) => r[5])).toEqual(['C', 'F', 'C']);
  });

  test('a measurement withdrawn in an earlier version is not sent again, and the positions of the others stay', () => {
    const v3 = buildSet([{ name: 'Left Kidney', value: '132 mL' }]);
    const third = read(buildKidneyVolumeBundle(facts, v3, { now: new Date('2024-05-07T00:00:00Z'), previous: second }));
    expect(rows(oruR01(facts, v3, NOW, OPTIONS, resultVersionOf(third, v3)).text)).toEqual([
      ['1', '118565006', 'Right Kidney', '1', '', 'D'],
      ['2', '118565006', 'Left Kidney', '2', '132', 'F'],
    ]);
  });
});
