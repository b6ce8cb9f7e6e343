import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';

describe('configuration', () => {
  it('has sane defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ orthancUrl: 'http://localhost:8042', httpPort: 8080, pollIntervalMs: 250, srSeriesNumber: 9999, retries: 3 });
    expect(config.orthancUsername).toBeUndefined();
  });

  it.each([
    [{ ORTHANC_URL: 'localhost:8042' }, /ORTHANC_URL must start with http:\/\/ or https:\/\/, got "localhost:8042"/],
    [{ ORTHANC_URL: 'not a url' }, /ORTHANC_URL must be a URL/],
    [{ KV_HTTP_PORT: '80x' }, /KV_HTTP_PORT must be a whole number, got "80x"/],
    [{ KV_HTTP_PORT: '70000' }, /KV_HTTP_PORT must be at most 65535, got "70000"/],
    [{ KV_POLL_INTERVAL_MS: '0' }, /KV_POLL_INTERVAL_MS must be at least 50/],
    [{ KV_UID_ROOT: '1.2.03' }, /KV_UID_ROOT must be dotted digits/],
    [{ KV_LOG_LEVEL: 'loud' }, /KV_LOG_LEVEL/],
    [{ ORTHANC_USERNAME: 'u' }, /ORTHANC_USERNAME and ORTHANC_PASSWORD must be set together/],
    [{ KV_TIMEZONE: 'Mars/Olympus_Mons' }, /KV_TIMEZONE must be an IANA time zone name \(Europe\/Berlin\) or an offset like \+0100, got "Mars\/Olympus_Mons"/],
    [{ KV_TIMEZONE: '+1500' }, /KV_TIMEZONE must be/],
  ])('rejects %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it("polls the dashboard index's log at least once a second by default, never faster than the sidecar's feed unless told", () => {
    expect(loadConfig({}).indexPollIntervalMs).toBe(1000);
    expect(loadConfig({ KV_POLL_INTERVAL_MS: '5000' }).indexPollIntervalMs).toBe(5000);
    expect(loadConfig({ KV_INDEX_POLL_INTERVAL_MS: '200' }).indexPollIntervalMs).toBe(200);
    expect(() => loadConfig({ KV_INDEX_POLL_INTERVAL_MS: '10' })).toThrow(/KV_INDEX_POLL_INTERVAL_MS must be at least 50/);
  });

  it('takes the time zone of StudyTime as an IANA name or an offset, defaulting to this machine\'s', () => {
    expect(loadConfig({}).timeZone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(loadConfig({ KV_TIMEZONE: 'Europe/Berlin' }).timeZone).toBe('Europe/Berlin');
    expect(loadConfig({ KV_TIMEZONE: '-0530' }).timeZone).toBe('-0530');
  });

  it('never shows credentials embedded in the URL', () => {
    expect(() => loadConfig({ ORTHANC_URL: 'http://admin:s3cret@pacs:8042' })).toThrow(/got "http:\/\/pacs:8042"/);
    try {
      loadConfig({ ORTHANC_URL: 'http://admin:s3cret@pacs:8042' });
    } catch (error) {
      expect((error as Error).message).not.toContain('s3cret');
    }
  });

  it('reads a config file and lets the environment win', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kv-config-')), 'config.json');
    writeFileSync(file, JSON.stringify({ ORTHANC_URL: 'http://pacs:8042', KV_HTTP_PORT: 9000 }));
    const config = loadConfig({ KV_CONFIG_FILE: file, KV_HTTP_PORT: '9100' });
    expect(config.orthancUrl).toBe('http://pacs:8042');
    expect(config.httpPort).toBe(9100);
    writeFileSync(file, JSON.stringify({ ORTHANC_URLL: 'x' }));
    expect(() => loadConfig({ KV_CONFIG_FILE: file })).toThrow(/unknown key "ORTHANC_URLL"/);
  });
});
