// The pieces of issue 14 that need no Orthanc: the status history (bounded, newest last, a repeat of
// the newest replaced; what a broken client writes into it is refused by the schema), and the mark
// text `mark`/`attach` write, which must read back as the very same measurements (property-based,
// fixed seed, small budget).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { markTextOf } from '../../src/inputs/person-mark.js';
import { markSourceFor, NO_INPUTS, parseInputs, withMarkSource } from '../../src/measurements/origin.js';
import { buildSet, parseMeasurementsJson } from '../../src/measurements/parse.js';
import { MAX_HISTORY, parseStatusText, VERSION_SOURCES, withVersion, type StatusVersion } from '../../src/status/status.js';

const version = (n: number, source: StatusVersion['source'] = 'api'): StatusVersion => ({
  digest: n.toString(16).padStart(64, '0'),
  at: new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString(),
  source,
  values: `Right Kidney ${100 + n} mL`,
});

describe('the status history', () => {
  it('keeps the newest MAX_HISTORY versions, oldest first', () => {
    let history: StatusVersion[] = [];
    for (let n = 1; n <= MAX_HISTORY + 3; n++) history = withVersion(history, version(n));
    expect(history).toHaveLength(MAX_HISTORY);
    expect(history[0]).toEqual(version(4));
    expect(history[history.length - 1]).toEqual(version(MAX_HISTORY + 3));
  });

  it('replaces the newest entry when the same version finishes again (a study that grew), instead of listing it twice', () => {
    const again = { ...version(2), at: '2026-02-01T00:00:00.000Z' };
    expect(withVersion([version(1), version(2)], again)).toEqual([version(1), again]);
  });

  it('a status whose history is not ours is unreadable (reported and replaced, never trusted)', () => {
    const status = { state: 'done', digest: 'a'.repeat(64), measurements: [], attempts: 1, createdAt: version(1).at, updatedAt: version(1).at };
    expect(parseStatusText(JSON.stringify({ ...status, history: [version(1)] })).ok).toBe(true);
    for (const bad of [{ ...version(1), source: 'somebody' }, { ...version(1), at: 'yesterday' }, 'v1', null]) {
      const parsed = parseStatusText(JSON.stringify({ ...status, history: [bad] }));
      expect(parsed.ok, JSON.stringify(bad)).toBe(false);
    }
    expect(VERSION_SOURCES).toEqual(['mark', 'api', 'cli', 'attach', 'seg', 'vendor-sr', 'legacy-tags']);
  });
});

describe('the route of a person\'s mark in KidneyVolumesInputs', () => {
  it('is found by digest, the newest entry for a digest wins, and records without it still read', () => {
    const record = withMarkSource(withMarkSource(NO_INPUTS, { digest: 'd1', source: 'api', at: version(1).at }), { digest: 'd1', source: 'cli', at: version(2).at });
    expect(markSourceFor(record, 'd1')).toBe('cli');
    expect(markSourceFor(record, 'd2')).toBeUndefined();
    expect(parseInputs(JSON.stringify({ origins: [], notes: [] }))).toEqual({ origins: [], notes: [] });
    expect(markSourceFor(parseInputs(JSON.stringify({ origins: [], notes: [], marks: [{ digest: 'd1', source: 'root', at: 'x' }] })), 'd1')).toBeUndefined();
  });
});

const name = fc.constantFrom('Right Kidney', 'Left Kidney', 'Total Volume', 'Spleen', 'Cyst 1', 'toString', '__proto__');
const value = fc.tuple(fc.integer({ min: 1, max: 4999 }), fc.integer({ min: 0, max: 99 })).map(([i, f]) => `${i}.${String(f).padStart(2, '0')}`);
const unit = fc.constantFrom('ml', 'mL', 'cm3', 'l');

describe('the mark text written by mark and attach', () => {
  it('reads back as the same measurements (same digest) for any valid set', () => {
    let checked = 0;
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(name, value, unit), { minLength: 1, maxLength: 6, selector: ([n]) => n.toLowerCase() }), (entries) => {
        let set;
        try {
          set = buildSet(entries.map(([n, v, u]) => ({ name: n, value: `${v} ${u}` })));
        } catch {
          return; // out of range in litres, or two names of one anatomy: the parser's business, tested elsewhere
        }
        expect(parseMeasurementsJson(markTextOf(set)).digest).toBe(set.digest);
        checked++;
      }),
      { seed: 14, numRuns: 300 },
    );
    // Most generated sets are valid: the property is not vacuous.
    expect(checked).toBeGreaterThan(100);
  });
});
