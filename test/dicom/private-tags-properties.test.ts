/**
 * Property-based test of the private-tag splice (issue 12, "Hunt for the next ones"): random
 * Part-10 files, written byte by byte by this test (not by the project's writers, so a shared
 * misunderstanding cannot hide), with random private blocks in odd groups, crowded creator slots,
 * odd-length values and undefined-length sequences, in the three uncompressed transfer syntaxes.
 * The copy must differ from its source only by our KidneyVolInfo block and the documented derived
 * attributes, element by element as dcmtk's dcmdump sees them. A fixed seed and a bounded number
 * of runs keep it deterministic (each case spawns dcmdump twice); raise KV_FUZZ_RUNS to search longer.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { derivePrivateCopy, derivedSeriesDescription, derivedSeriesNumber } from '../../src/dicom/private-tags/derive.js';
import { BufferPool } from '../../src/pipeline/buffer-pool.js';
import { blockContent } from '../../src/dicom/private-tags/layout.js';
import { readKidneyBlock } from '../../src/dicom/private-tags/read.js';
import type { MeasurementSet } from '../../src/measurements/model.js';

const RUNS = Number(process.env['KV_FUZZ_RUNS'] ?? 25);
const PARAMS = { seed: 20261129, numRuns: RUNS } as const;
/** Each case spawns dcmdump twice; a longer search (KV_FUZZ_RUNS) gets a proportionate timeout. */
const TIMEOUT_MS = Math.max(120_000, RUNS * 4_000);

const work = mkdtempSync(join(tmpdir(), 'kv-private-props-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// ---------------------------------------------------------------- an independent Part-10 writer

interface Syntax {
  readonly uid: string;
  readonly explicit: boolean;
  readonly little: boolean;
}
const SYNTAXES: readonly Syntax[] = [
  { uid: '1.2.840.10008.1.2.1', explicit: true, little: true },
  { uid: '1.2.840.10008.1.2', explicit: false, little: true },
  { uid: '1.2.840.10008.1.2.2', explicit: true, little: false },
];

/** A test element: a value (already in its VR's binary form, little endian for numbers) or items. */
interface El {
  readonly group: number;
  readonly element: number;
  readonly vr: string;
  readonly value?: Buffer;
  /** Item contents for SQ; each item is a list of elements. */
  readonly items?: readonly (readonly El[])[];
  /** Write the SQ and its items with undefined length (delimiters) rather than explicit lengths. */
  readonly undefinedLength?: boolean;
}

/** PS3.5 table 7.1-1: VRs with a reserved field and a 4-byte length. */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
/** Binary VRs whose numbers swap in big endian, with their unit size. */
const WORD_SIZE: Readonly<Record<string, number>> = { US: 2, SS: 2, OW: 2, UL: 4, SL: 4, FL: 4, FD: 8 };

function u16(n: number, s: Syntax): Buffer {
  const b = Buffer.alloc(2);
  if (s.little) b.writeUInt16LE(n);
  else b.writeUInt16BE(n);
  return b;
}
function u32(n: number, s: Syntax): Buffer {
  const b = Buffer.alloc(4);
  if (s.little) b.writeUInt32LE(n);
  else b.writeUInt32BE(n);
  return b;
}

/** Values are generated little endian; big endian swaps each number. */
function ordered(value: Buffer, vr: string, s: Syntax): Buffer {
  const size = WORD_SIZE[vr];
  if (s.little || size === undefined) return value;
  const out = Buffer.from(value);
  for (let i = 0; i + size <= out.length; i += size) out.subarray(i, i + size).reverse();
  return out;
}

function header(group: number, element: number, vr: string, length: number, s: Syntax): Buffer {
  const tag = Buffer.concat([u16(group, s), u16(element, s)]);
  if (!s.explicit || group === 0xfffe) return Buffer.concat([tag, u32(length, s)]);
  if (LONG_VRS.has(vr)) return Buffer.concat([tag, Buffer.from(vr, 'latin1'), Buffer.alloc(2), u32(length, s)]);
  return Buffer.concat([tag, Buffer.from(vr, 'latin1'), u16(length, s)]);
}

const UNDEFINED = 0xffffffff;
function encodeElement(e: El, s: Syntax): Buffer {
  if (e.vr !== 'SQ') {
    const value = ordered(e.value ?? Buffer.alloc(0), e.vr, s);
    return Buffer.concat([header(e.group, e.element, e.vr, value.length, s), value]);
  }
  const items = (e.items ?? []).map((item) => {
    const body = Buffer.concat(item.map((child) => encodeElement(child, s)));
    return e.undefinedLength
      ? Buffer.concat([header(0xfffe, 0xe000, '', UNDEFINED, s), body, header(0xfffe, 0xe00d, '', 0, s)])
      : Buffer.concat([header(0xfffe, 0xe000, '', body.length, s), body]);
  });
  const body = Buffer.concat(items);
  return e.undefinedLength
    ? Buffer.concat([header(e.group, e.element, 'SQ', UNDEFINED, s), body, header(0xfffe, 0xe0dd, '', 0, s)])
    : Buffer.concat([header(e.group, e.element, 'SQ', body.length, s), body]);
}

/** Text padded to even length: UI with NUL, other strings with a space (PS3.5 section 6.2). */
function text(value: string, vr = 'LO'): Buffer {
  const padded = value.length % 2 === 0 ? value : `${value}${vr === 'UI' ? '\0' : ' '}`;
  return Buffer.from(padded, 'latin1');
}
/** Bytes padded to even length with NUL (OB, UN). */
function bytes(value: Uint8Array): Buffer {
  return value.length % 2 === 0 ? Buffer.from(value) : Buffer.concat([Buffer.from(value), Buffer.alloc(1)]);
}

function metaElement(element: number, vr: string, value: Buffer): Buffer {
  return encodeElement({ group: 2, element, vr, value }, SYNTAXES[0] as Syntax);
}

/** A Part-10 file: preamble, meta header (always explicit VR little endian) and the dataset in `s`. */
function part10(dataset: readonly El[], sopClass: string, sopInstance: string, s: Syntax): Buffer {
  const metaBody = Buffer.concat([
    metaElement(0x0001, 'OB', Buffer.from([0, 1])),
    metaElement(0x0002, 'UI', text(sopClass, 'UI')),
    metaElement(0x0003, 'UI', text(sopInstance, 'UI')),
    metaElement(0x0010, 'UI', text(s.uid, 'UI')),
    metaElement(0x0012, 'UI', text('1.2.826.0.1.3680043.10.1526.7', 'UI')),
  ]);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(metaBody.length);
  const sorted = [...dataset].sort((a, b) => a.group - b.group || a.element - b.element);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), metaElement(0x0000, 'UL', groupLength), metaBody, ...sorted.map((e) => encodeElement(e, s))]);
}

// ---------------------------------------------------------------- random datasets

const TEXT_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ._-^'.split('');
const textArb = (min: number, max: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...TEXT_CHARS), minLength: min, maxLength: max }).map((t) => t.trim()).filter((t) => t.length >= min);
const uidArb = fc.array(fc.integer({ min: 1, max: 99999 }), { minLength: 4, maxLength: 9 }).map((parts) => `1.2.826.0.1.3680043.10.1526.${parts.join('.')}`);
const CREATORS = ['GEMS_PATI_01', 'GEMS_ACQU_01', 'SIEMENS CSA HEADER', 'PHILIPS MR IMAGING DD 001', 'ACME 1.0', 'TOSHIBA_MEC_CT3'];
const creatorArb = fc.oneof(fc.constantFrom(...CREATORS), textArb(1, 64)).filter((c) => c !== 'KidneyVolInfo');

/** A leaf value of a random VR (numbers little endian; the writer swaps them for big endian). */
const leafArb: fc.Arbitrary<{ vr: string; value: Buffer }> = fc.oneof(
  textArb(0, 64).map((t) => ({ vr: 'LO', value: text(t) })),
  textArb(0, 16).map((t) => ({ vr: 'SH', value: text(t) })),
  textArb(0, 300).map((t) => ({ vr: 'UT', value: text(t) })),
  uidArb.map((u) => ({ vr: 'UI', value: text(u, 'UI') })),
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 4 }).map((ns) => ({ vr: 'US', value: Buffer.concat(ns.map((n) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; })) })),
  fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 3 }).map((ns) => ({ vr: 'UL', value: Buffer.concat(ns.map((n) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; })) })),
  fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 3 }).map((ns) => ({ vr: 'FD', value: Buffer.concat(ns.map((n) => { const b = Buffer.alloc(8); b.writeDoubleLE(n); return b; })) })),
  fc.uint8Array({ maxLength: 41 }).map((b) => ({ vr: 'OB', value: bytes(b) })),
  fc.uint8Array({ maxLength: 41 }).map((b) => ({ vr: 'UN', value: bytes(b) })),
);

/** Elements of one private block: distinct low bytes, leaves or (undefined-length) sequences. */
function blockElementsArb(group: number, slot: number, depth: number): fc.Arbitrary<El[]> {
  const entry = depth > 0 ? fc.oneof({ weight: 4, arbitrary: leafArb.map((l) => ({ ...l, items: undefined, undefinedLength: undefined })) }, { weight: 1, arbitrary: sequenceArb(group, slot, depth - 1) }) : leafArb.map((l) => ({ ...l, items: undefined, undefinedLength: undefined }));
  return fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 0xff }), entry), { selector: ([low]) => low, maxLength: 5 }).map((list) =>
    list.map(([low, e]) => ({ group, element: (slot << 8) | low, vr: e.vr, value: e.value, items: e.items, undefinedLength: e.undefinedLength })),
  );
}

/** A sequence; in implicit VR an explicit-length private SQ would read as UN, so private sequences are undefined length mostly. */
function sequenceArb(group: number, slot: number, depth: number): fc.Arbitrary<{ vr: string; value: Buffer | undefined; items: El[][]; undefinedLength: boolean }> {
  const itemElements = fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 0xff }), leafArb), { selector: ([low]) => low, maxLength: 3 });
  const nested = depth > 0 ? blockElementsArb(group, slot, depth) : fc.constant([] as El[]);
  return fc.record({
    items: fc.array(fc.tuple(itemElements, nested), { maxLength: 3 }),
    undefinedLength: fc.constant(true),
  }).map(({ items, undefinedLength }) => ({
    vr: 'SQ',
    value: undefined,
    undefinedLength,
    items: items.map(([leaves, deeper]) => {
      // An item holds its own creator so a reader can name its private elements.
      const creator: El = { group, element: slot, vr: 'LO', value: text('ITEM CREATOR') };
      const elements = [creator, ...leaves.map(([low, l]) => ({ group, element: (slot << 8) | low, vr: l.vr, value: l.value })), ...deeper];
      const unique = new Map(elements.map((e) => [e.element, e]));
      return [...unique.values()].sort((a, b) => a.element - b.element);
    }),
  }));
}

/** Private blocks in one odd group: random distinct slots, each with a creator and elements. */
function privateGroupArb(group: number): fc.Arbitrary<El[]> {
  return fc
    .uniqueArray(fc.tuple(fc.integer({ min: 0x10, max: 0x30 }), creatorArb), { selector: ([slot]) => slot, maxLength: 3 })
    .chain((slots) => fc.tuple(...slots.map(([slot, creator]) => blockElementsArb(group, slot, 1).map((els) => [{ group, element: slot, vr: 'LO', value: text(creator) }, ...els]))))
    .map((blocks) => blocks.flat());
}

type Group11 = 'none' | 'ge' | 'crowded' | 'random';
const group11Arb: fc.Arbitrary<{ kind: Group11; elements: El[] }> = fc.constantFrom<Group11>('none', 'ge', 'crowded', 'random').chain((kind): fc.Arbitrary<{ kind: Group11; elements: El[] }> => {
  if (kind === 'none') return fc.constant({ kind, elements: [] as El[] });
  if (kind === 'ge') {
    const ss = Buffer.alloc(2);
    ss.writeInt16LE(2);
    return blockElementsArb(0x11, 0x12, 1).map((extra) => ({
      kind,
      elements: [{ group: 0x11, element: 0x10, vr: 'LO', value: text('GEMS_PATI_01') }, { group: 0x11, element: 0x1010, vr: 'SS', value: ss }, ...(extra.length ? [{ group: 0x11, element: 0x12, vr: 'LO', value: text('GEMS_PATI_01') }, ...extra] : [])],
    }));
  }
  if (kind === 'crowded') {
    return fc.array(creatorArb, { minLength: 17, maxLength: 17 }).map((creators) => ({ kind, elements: creators.map((c, i) => ({ group: 0x11, element: 0x10 + i, vr: 'LO', value: text(c) })) }));
  }
  return privateGroupArb(0x11).map((elements) => ({ kind, elements }));
});

interface Case {
  readonly syntax: Syntax;
  readonly sopClass: string;
  readonly sopInstance: string;
  readonly seriesUid: string;
  readonly seriesNumber: string | undefined;
  readonly description: string | undefined;
  readonly derivation: string | undefined;
  /** ReferencedSOPInstanceUIDs of a SourceImageSequence the source already has. */
  readonly priorSources: readonly string[];
  readonly dataset: El[];
  readonly measurements: MeasurementSet;
  readonly copySeriesUid: string;
  readonly copySopUid: string;
}

const measurementsArb: fc.Arbitrary<MeasurementSet> = fc
  .record({
    measurements: fc.array(
      fc.record({ name: textArb(1, 40), volume: fc.double({ min: 0.001, max: 100000, noNaN: true }) }).map(({ name, volume }) => ({ name, valueMl: String(volume), volumeMl: volume })),
      { minLength: 1, maxLength: 6 },
    ),
    digest: fc.stringMatching(/^[0-9a-f]{64}$/),
  });

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    syntax: fc.constantFrom(...SYNTAXES),
    sopClass: fc.constantFrom('1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.5.1.4.1.1.4', '1.2.840.10008.5.1.4.1.1.7'),
    sopInstance: uidArb,
    seriesUid: uidArb,
    studyUid: uidArb,
    seriesNumber: fc.option(fc.integer({ min: -100, max: 99999 }).map(String), { nil: undefined }),
    description: fc.option(textArb(1, 64), { nil: undefined }),
    derivation: fc.option(textArb(1, 200), { nil: undefined }),
    priorSources: fc.option(fc.record({ uids: fc.array(uidArb, { minLength: 1, maxLength: 2 }), undefinedLength: fc.boolean() }), { nil: undefined }),
    patientName: textArb(0, 31),
    pixels: fc.uint8Array({ minLength: 2, maxLength: 64 }),
    group11: group11Arb,
    others: fc.uniqueArray(fc.constantFrom(0x0009, 0x0013, 0x0019, 0x0029, 0x0043, 0x7fd1), { maxLength: 3 }).chain((groups) => fc.tuple(...groups.map(privateGroupArb))),
    measurements: measurementsArb,
    copySeriesUid: uidArb,
    copySopUid: uidArb,
  })
  .map((r) => {
    const pixels = r.pixels.length % 2 === 0 ? Buffer.from(r.pixels) : Buffer.from(r.pixels.subarray(1));
    const dataset: El[] = [
      { group: 0x0008, element: 0x0016, vr: 'UI', value: text(r.sopClass, 'UI') },
      { group: 0x0008, element: 0x0018, vr: 'UI', value: text(r.sopInstance, 'UI') },
      { group: 0x0008, element: 0x0060, vr: 'CS', value: text('CT') },
      { group: 0x0010, element: 0x0010, vr: 'PN', value: text(r.patientName) },
      { group: 0x0020, element: 0x000d, vr: 'UI', value: text(r.studyUid, 'UI') },
      { group: 0x0020, element: 0x000e, vr: 'UI', value: text(r.seriesUid, 'UI') },
      { group: 0x7fe0, element: 0x0010, vr: 'OW', value: pixels },
      ...r.group11.elements,
      ...r.others.flat(),
    ];
    if (r.seriesNumber !== undefined) dataset.push({ group: 0x0020, element: 0x0011, vr: 'IS', value: text(r.seriesNumber) });
    if (r.description !== undefined) dataset.push({ group: 0x0008, element: 0x103e, vr: 'LO', value: text(r.description) });
    if (r.derivation !== undefined) dataset.push({ group: 0x0008, element: 0x2111, vr: 'ST', value: text(r.derivation) });
    if (r.priorSources !== undefined) {
      const items = r.priorSources.uids.map((uid) => [
        { group: 0x0008, element: 0x1150, vr: 'UI', value: text(r.sopClass, 'UI') },
        { group: 0x0008, element: 0x1155, vr: 'UI', value: text(uid, 'UI') },
      ]);
      dataset.push({ group: 0x0008, element: 0x2112, vr: 'SQ', items, undefinedLength: r.priorSources.undefinedLength });
    }
    return { syntax: r.syntax, sopClass: r.sopClass, sopInstance: r.sopInstance, seriesUid: r.seriesUid, seriesNumber: r.seriesNumber, description: r.description, derivation: r.derivation, priorSources: r.priorSources?.uids ?? [], dataset, measurements: r.measurements, copySeriesUid: r.copySeriesUid, copySopUid: r.copySopUid };
  });

// ---------------------------------------------------------------- dcmdump, element by element

let counter = 0;
/** dcmdump's view of a file as top-level elements: `meta|(gggg,eeee)` → the element's line and its nested lines. */
function dump(bytesOfFile: Buffer): Map<string, string> {
  const file = join(work, `case-${++counter}.dcm`);
  writeFileSync(file, bytesOfFile);
  const out = execFileSync('dcmdump', ['+L', '+U8', '-Un', '-q', file], { encoding: 'utf8', maxBuffer: 1 << 26 });
  rmSync(file);
  const elements = new Map<string, string>();
  let section = '';
  let current: string | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('# Dicom-Meta-Information-Header')) section = 'meta';
    else if (line.startsWith('# Dicom-Data-Set')) section = 'data';
    // dcmdump closes a sequence of explicit length with a delimiter line at the sequence's own indentation.
    if (line.startsWith('(') && !line.startsWith('(fffe,')) {
      current = `${section}|${line.slice(0, 11)}`;
      expect(elements.has(current), `dcmdump shows ${current} twice`).toBe(false);
      elements.set(current, line);
    } else if ((line.startsWith(' ') || line.startsWith('(fffe,')) && current !== undefined) {
      elements.set(current, `${elements.get(current)}\n${line}`);
    }
  }
  return elements;
}

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');
/** The differences the README documents: new identity, derived description and number, the reference, the derivation text. */
const DERIVED = ['meta|(0002,0000)', 'meta|(0002,0003)', 'data|(0008,0018)', 'data|(0008,103e)', 'data|(0008,2111)', 'data|(0008,2112)', 'data|(0020,000e)', 'data|(0020,0011)'];

function valueOf(line: string | undefined): string | undefined {
  return line === undefined ? undefined : /\[(.*)\]/.exec(line)?.[1];
}

/** The first slot with neither a creator nor an element in group 0011, computed from the generated dataset. */
function expectedSlot(dataset: readonly El[]): number {
  const used = new Set(dataset.filter((e) => e.group === 0x11).map((e) => (e.element < 0x100 ? e.element : e.element >> 8)));
  for (let slot = 0x10; slot <= 0xff; slot++) if (!used.has(slot)) return slot;
  throw new Error('no free slot');
}

function checkCase(c: Case): void {
  const source = part10(c.dataset, c.sopClass, c.sopInstance, c.syntax);
  const content = blockContent(c.measurements, c.seriesUid);
  const copy = derivePrivateCopy(source, { seriesInstanceUid: c.copySeriesUid, sopInstanceUid: c.copySopUid, content });
  // Written into reused memory holding an earlier file's bytes (the private step's pool), the copy is the same.
  const pool = new BufferPool();
  pool.give(pool.take(copy.bytes.length + 100).fill(0xa5));
  const reused = derivePrivateCopy(source, { seriesInstanceUid: c.copySeriesUid, sopInstanceUid: c.copySopUid, content }, pool.take);
  expect(pool.kept).toBe(0);
  expect(reused.bytes.equals(copy.bytes)).toBe(true);
  const slot = expectedSlot(c.dataset);
  expect(copy.slot).toBe(slot);
  expect(copy.transferSyntaxUid).toBe(c.syntax.uid);

  const before = dump(source);
  const after = dump(copy.bytes);
  const ours = (key: string): boolean => {
    if (!key.startsWith('data|(0011,')) return false;
    const element = Number.parseInt(key.slice(11, 15), 16);
    return element === slot || element >> 8 === slot;
  };
  expect([...before.keys()].filter(ours)).toEqual([]);
  const rest = (m: Map<string, string>): [string, string][] => [...m].filter(([key]) => !DERIVED.includes(key) && !ours(key));
  // Everything else: same elements, same order, same values (as dcmdump decodes them, nested lines included).
  expect(rest(after)).toEqual(rest(before));

  // The documented differences, one by one.
  expect(valueOf(after.get('meta|(0002,0003)'))).toBe(c.copySopUid);
  expect(valueOf(after.get('data|(0008,0018)'))).toBe(c.copySopUid);
  expect(valueOf(after.get('data|(0020,000e)'))).toBe(c.copySeriesUid);
  const number = derivedSeriesNumber(c.seriesNumber);
  expect(valueOf(after.get('data|(0020,0011)'))).toBe(String(number));
  expect(valueOf(after.get('data|(0008,103e)'))).toBe(derivedSeriesDescription(c.description, number));
  const derivation = valueOf(after.get('data|(0008,2111)')) ?? '';
  if (c.derivation !== undefined) expect(derivation.startsWith(`${c.derivation}; `)).toBe(true);
  expect(derivation).toContain(`Copy of series ${c.seriesUid} with kidney volumes`);
  const reference = after.get('data|(0008,2112)') ?? '';
  expect(reference).toContain(`(0008,1150) UI [${c.sopClass}]`);
  // Ours is appended after the items the source already had, in their order.
  expect([...reference.matchAll(/\(0008,1155\) UI \[([^\]]*)\]/g)].map((m) => m[1])).toEqual([...c.priorSources, c.sopInstance]);
  expect(reference).toContain('(0028,135a) CS [YES]');

  // Our block: nothing but it in its slot, where dcmdump finds it too, and it reads back.
  const creatorKey = `data|(0011,${hex4(slot)})`;
  expect(valueOf(after.get(creatorKey))).toBe('KidneyVolInfo');
  expect([...after.keys()].filter(ours)).toHaveLength(1 + 2 * content.lines.length + 2);
  const block = readKidneyBlock(copy.bytes);
  expect(block?.slot).toBe(slot);
  expect(block?.lines).toEqual(content.lines);
  expect(block?.volumesMl).toEqual(c.measurements.measurements.map((m) => m.volumeMl));
  expect(block?.digest).toBe(c.measurements.digest);
  expect(block?.sourceSeriesInstanceUid).toBe(c.seriesUid);
}

describe('the private-tag splice on random Part-10 files', () => {
  it('changes nothing but our block and the documented derived attributes', () => {
    fc.assert(fc.property(caseArb, checkCase), PARAMS);
  }, TIMEOUT_MS);

  it('the test writer itself produces files dcmdump reads without complaint', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const file = join(work, `writer-${++counter}.dcm`);
        writeFileSync(file, part10(c.dataset, c.sopClass, c.sopInstance, c.syntax));
        // dcmdump exits non-zero when it cannot parse the file; the output must name our source SOP instance.
        const out = execFileSync('dcmdump', ['-q', '+L', file], { encoding: 'utf8' });
        expect(out).toContain(`(0008,0018) UI [${c.sopInstance}]`);
      }),
      { seed: PARAMS.seed, numRuns: Math.min(RUNS, 5) },
    );
  }, 60_000);
});
