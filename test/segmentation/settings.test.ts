import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { DEFAULT_SEGMENT_LABELS } from '../../src/segmentation/match.js';

describe('KV_SEGMENTATION and KV_SEGMENT_LABELS', () => {
  it('is on with the default labels unless configured', () => {
    expect(loadConfig({}).segmentation).toEqual({ enabled: true, labels: DEFAULT_SEGMENT_LABELS });
    expect(loadConfig({ KV_SEGMENTATION: 'off' }).segmentation.enabled).toBe(false);
  });

  it('replaces the labels of each side given, keeps the other side', () => {
    const { labels } = loadConfig({ KV_SEGMENT_LABELS: 'left: Niere links, NL' }).segmentation;
    expect(labels).toEqual({ right: DEFAULT_SEGMENT_LABELS.right, left: ['Niere links', 'NL'] });
  });

  it('refuses wrong values, naming the variable and the value', () => {
    expect(() => loadConfig({ KV_SEGMENTATION: 'maybe' })).toThrow('KV_SEGMENTATION must be on or off, got "maybe"');
    expect(() => loadConfig({ KV_SEGMENT_LABELS: 'centre:x' })).toThrow(/^KV_SEGMENT_LABELS must be "right:<label>,...;left:<label>,..." .*got "centre:x"/);
  });
});
