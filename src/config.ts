/**
 * Configuration from environment variables, optionally from a JSON file named by KV_CONFIG_FILE
 * (environment variables win). Every value is checked at start-up; a wrong one is a ConfigError
 * naming the variable and the value, never a password.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { checkUidRoot } from './dicom/uids.js';

/** The checked configuration. */
export interface Config {
  readonly orthancUrl: string;
  readonly orthancUsername?: string;
  readonly orthancPassword?: string;
  readonly stateDir: string;
  readonly httpPort: number;
  readonly pollIntervalMs: number;
  readonly requestTimeoutMs: number;
  readonly retries: number;
  readonly uidRoot?: string;
  readonly srSeriesNumber: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/** Environment variables read, with what each sets (the README lists the same). */
export const VARIABLES = {
  ORTHANC_URL: 'Orthanc base URL (default http://localhost:8042)',
  ORTHANC_USERNAME: 'HTTP Basic user for Orthanc',
  ORTHANC_PASSWORD: 'HTTP Basic password for Orthanc',
  KV_STATE_DIR: 'folder for the sidecar state (default ./.state)',
  KV_HTTP_PORT: 'port of the HTTP API (default 8080)',
  KV_POLL_INTERVAL_MS: 'changes feed poll interval when idle (default 1000)',
  KV_REQUEST_TIMEOUT_MS: 'timeout of one request to Orthanc (default 30000)',
  KV_RETRIES: 'retries of idempotent Orthanc calls on connection errors and 5xx (default 3)',
  KV_UID_ROOT: 'organisation UID root for new UIDs (default 2.25 UUID-derived UIDs)',
  KV_SR_SERIES_NUMBER: 'SeriesNumber of the SR series (default 9999)',
  KV_LOG_LEVEL: 'log level: fatal, error, warn, info, debug, trace, silent (default info)',
  KV_CONFIG_FILE: 'optional JSON file with any of these variables as keys',
} as const;

type VariableName = keyof typeof VARIABLES;

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const schema = {
  ORTHANC_URL: z.string().superRefine((text, ctx) => {
    const problem = urlProblem(text);
    if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
  }),
  KV_HTTP_PORT: integer(1, 65535),
  KV_POLL_INTERVAL_MS: integer(50, 3_600_000),
  KV_REQUEST_TIMEOUT_MS: integer(100, 3_600_000),
  KV_RETRIES: integer(0, 20),
  KV_SR_SERIES_NUMBER: integer(1, 2_147_483_647),
  KV_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
} as const;

/** Reads and checks the configuration from an environment (process.env by default). */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const source = { ...readConfigFile(env['KV_CONFIG_FILE']), ...definedOnly(env) };
  const pick = <K extends keyof typeof schema>(name: K, fallback: string): z.output<(typeof schema)[K]> => {
    const raw = source[name] ?? fallback;
    const parsed = schema[name].safeParse(raw);
    if (!parsed.success) {
      const shown = name === 'ORTHANC_URL' ? redactUrl(raw) : raw;
      throw new ConfigError(name, `${name} ${parsed.error.issues[0]?.message ?? 'is invalid'}, got "${shown}"`);
    }
    return parsed.data as z.output<(typeof schema)[K]>;
  };
  const uidRoot = source['KV_UID_ROOT'];
  if (uidRoot !== undefined) {
    try {
      checkUidRoot(uidRoot);
    } catch (error) {
      throw new ConfigError('KV_UID_ROOT', `KV_UID_ROOT ${(error as Error).message.replace(/^UID root /, '')}`);
    }
  }
  const username = source['ORTHANC_USERNAME'];
  const password = source['ORTHANC_PASSWORD'];
  if ((username === undefined) !== (password === undefined)) {
    throw new ConfigError('ORTHANC_PASSWORD', 'ORTHANC_USERNAME and ORTHANC_PASSWORD must be set together');
  }
  return {
    orthancUrl: pick('ORTHANC_URL', 'http://localhost:8042').replace(/\/+$/, ''),
    ...(username !== undefined ? { orthancUsername: username } : {}),
    ...(password !== undefined ? { orthancPassword: password } : {}),
    stateDir: resolve(source['KV_STATE_DIR'] ?? '.state'),
    httpPort: pick('KV_HTTP_PORT', '8080'),
    pollIntervalMs: pick('KV_POLL_INTERVAL_MS', '1000'),
    requestTimeoutMs: pick('KV_REQUEST_TIMEOUT_MS', '30000'),
    retries: pick('KV_RETRIES', '3'),
    ...(uidRoot !== undefined ? { uidRoot: checkUidRoot(uidRoot) } : {}),
    srSeriesNumber: pick('KV_SR_SERIES_NUMBER', '9999'),
    logLevel: pick('KV_LOG_LEVEL', 'info'),
  };
}

/** Why text is not a usable Orthanc URL, or undefined when it is. */
function urlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be a URL such as http://localhost:8042';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must start with http:// or https://';
  if (url.username !== '' || url.password !== '') return 'must not hold credentials: use ORTHANC_USERNAME and ORTHANC_PASSWORD';
  return undefined;
}

/** A URL with any user:password part removed, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//');
}

function definedOnly(env: Readonly<Record<string, string | undefined>>): Partial<Record<VariableName, string>> {
  const out: Partial<Record<VariableName, string>> = {};
  for (const name of Object.keys(VARIABLES) as VariableName[]) {
    const value = env[name];
    if (value !== undefined && value !== '') out[name] = value;
  }
  return out;
}

function readConfigFile(path: string | undefined): Partial<Record<VariableName, string>> {
  if (path === undefined || path === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError('KV_CONFIG_FILE', `KV_CONFIG_FILE ${path} could not be read as JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('KV_CONFIG_FILE', `KV_CONFIG_FILE ${path} must hold a JSON object of variable names to values`);
  }
  const out: Partial<Record<VariableName, string>> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!(key in VARIABLES) || key === 'KV_CONFIG_FILE') {
      throw new ConfigError('KV_CONFIG_FILE', `KV_CONFIG_FILE ${path} has an unknown key "${key}"; known: ${Object.keys(VARIABLES).join(', ')}`);
    }
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new ConfigError('KV_CONFIG_FILE', `KV_CONFIG_FILE ${path}: "${key}" must be a string or a number`);
    }
    out[key as VariableName] = String(value);
  }
  return out;
}
