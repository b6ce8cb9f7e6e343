import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

// KV_HL7_DIR must exist (issue 12 item 17): the tests name a real, empty folder.
const HL7_DIR = mkdtempSync(join(tmpdir(), 'kv-hl7-out-'));

describe('delivery configuration', () => {
  test('no destination: no deliveries', () => {
    expect(loadConfig({}).delivery).toBeUndefined();
  });

  test('every variable, checked and typed', () => {
    const config = loadConfig({
      KV_FORWARD_MODALITIES: 'PACS1, PACS2,PACS1',
      KV_FORWARD_DERIVED: 'TRUE',
      KV_FORWARD_TIMEOUT_MS: '5000',
      KV_HL7_DIR: HL7_DIR,
      KV_HL7_MLLP: '[::1]:2575',
      KV_HL7_TIMEOUT_MS: '2500',
      KV_HL7_SENDER: 'KV^RADIOLOGY',
      KV_HL7_RECEIVER: 'RIS',
      KV_DELIVERY_ATTEMPTS: '5',
      KV_DELIVERY_RETRY_BASE_MS: '250',
    });
    expect(config.delivery).toEqual({
      forward: { modalities: ['PACS1', 'PACS2'], derived: true, timeoutMs: 5000 },
      hl7: { dir: HL7_DIR, mllp: { host: '::1', port: 2575 }, timeoutMs: 2500, sender: { application: 'KV', facility: 'RADIOLOGY' }, receiver: { application: 'RIS', facility: '' } },
      attempts: 5,
      retryBaseMs: 250,
    });
  });

  test.each([
    ['KV_FORWARD_MODALITIES', 'PACS 1', 'KV_FORWARD_MODALITIES must be a comma list of Orthanc modality names (letters, digits, . _ -), got "PACS 1"'],
    ['KV_FORWARD_DERIVED', 'yes', 'KV_FORWARD_DERIVED must be true or false, got "yes"'],
    ['KV_HL7_MLLP', 'ris:99999', 'KV_HL7_MLLP must be host:port, e.g. 10.0.0.5:2575, got "ris:99999"'],
    ['KV_HL7_TIMEOUT_MS', '10s', 'KV_HL7_TIMEOUT_MS must be a whole number, got "10s"'],
    ['KV_DELIVERY_ATTEMPTS', '0', 'KV_DELIVERY_ATTEMPTS must be between 1 and 20, got "0"'],
    ['KV_HL7_SENDER', 'A^B^C', 'KV_HL7_SENDER must be application or application^facility, got "A^B^C"'],
  ])('%s=%s is refused with a message naming it', (name, value, message) => {
    const env = { KV_HL7_DIR: HL7_DIR, [name]: value };
    expect(() => loadConfig(env)).toThrow(new ConfigError(name, message));
    try {
      loadConfig(env);
    } catch (error) {
      expect((error as ConfigError).variable).toBe(name);
    }
  });
});
