// What the dashboard takes from others: search text typed by anyone logged in, patient names from
// modalities, and SR documents stored in Orthanc. Property tests, then a bounded fuzz (fixed seed).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { srTree, type SrTreeNode } from '../../src/dicom/sr/tree.js';
import { searchText, StudyIndex } from '../../src/index/store.js';
import { fakeRow } from './rows.js';

describe('the search', () => {
  it('finds a study by any part of its patient name, whatever characters the name holds', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30, unit: 'grapheme' }), fc.nat(), fc.nat(), (name, a, b) => {
        const index = StudyIndex.inMemory();
        index.upsert(fakeRow(1, { patientName: name }));
        index.upsert(fakeRow(2, { patientName: 'Someone Else' }));
        const chars = [...name];
        const start = a % chars.length;
        const part = chars.slice(start, start + 1 + (b % (chars.length - start))).join('');
        if (part.trim() === '') return;
        const found = index.list({ search: part }).rows.map((r) => r.studyId);
        expect(found).toContain(fakeRow(1).studyId);
      }),
      { seed: 18, numRuns: 200 },
    );
  });

  it('never throws and only answers rows that contain the search, for any search text', () => {
    const index = StudyIndex.inMemory();
    index.upsertMany(Array.from({ length: 60 }, (_, n) => fakeRow(n)));
    fc.assert(
      fc.property(fc.string({ maxLength: 40, unit: 'binary' }), (search) => {
        const page = index.list({ search });
        const wanted = searchText(search);
        for (const row of page.rows) {
          const haystack = [row.patientName, row.patientId, row.accession, row.studyInstanceUid].map((f) => f.toLowerCase());
          expect(haystack.some((f) => f.includes(wanted))).toBe(true);
        }
      }),
      { seed: 1800, numRuns: 500 },
    );
  });
});

describe('regressions found by the property tests', () => {
  it('ignores control characters in a search: a NUL made any search match everything (SQLite cut the pattern there)', () => {
    const index = StudyIndex.inMemory();
    index.upsertMany(Array.from({ length: 5 }, (_, n) => fakeRow(n)));
    expect(index.list({ search: '\u0000' }).total).toBe(5);
    expect(index.list({ search: 'doe\u0000zzz' }).total).toBe(0);
    expect(index.list({ search: 'jane 0\u0001pid' }).total).toBe(0);
  });
});

describe('the SR tree of a stored document', () => {
  const item: fc.Memo<unknown> = fc.memo((depth) =>
    fc.record(
      {
        RelationshipType: fc.oneof(fc.constantFrom('CONTAINS', 'HAS OBS CONTEXT'), fc.anything()),
        ValueType: fc.oneof(fc.constantFrom('CONTAINER', 'TEXT', 'CODE', 'NUM', 'UIDREF', 'PNAME', 'IMAGE', 'DATE'), fc.anything()),
        ConceptNameCodeSequence: fc.oneof(fc.constant([{ CodeValue: '126000', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Imaging Measurement Report' }]), fc.anything()),
        TextValue: fc.anything(),
        MeasuredValueSequence: fc.anything(),
        PersonName: fc.anything(),
        ContentSequence: depth > 1 ? fc.array(item(depth - 1), { maxLength: 4 }) : fc.constant(undefined),
      },
      { requiredKeys: [] },
    ),
  );

  it('reads any content tree without throwing, numbering items as dsrdump does', () => {
    fc.assert(
      fc.property(item(5), (root) => {
        const tree = srTree(root as Record<string, unknown>);
        expect(tree.path).toBe('1');
        const walk = (node: SrTreeNode): void => {
          node.children.forEach((child, i) => {
            expect(child.path).toBe(`${node.path}.${i + 1}`);
            expect(typeof child.value).toBe('string');
            walk(child);
          });
        };
        walk(tree);
      }),
      { seed: 1500, numRuns: 300 },
    );
  });

  it('stops at 5000 items for a document built to be endless', () => {
    const wide = { ValueType: 'CONTAINER', ContentSequence: Array.from({ length: 100 }, () => ({ ValueType: 'CONTAINER', ContentSequence: Array.from({ length: 100 }, () => ({ ValueType: 'TEXT', TextValue: 'x' })) })) };
    const count = (node: SrTreeNode): number => 1 + node.children.reduce((n, c) => n + count(c), 0);
    expect(count(srTree(wide))).toBeLessThanOrEqual(5001);
  });
});
