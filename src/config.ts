/**
 * Configuration from environment variables, optionally from a JSON file named by KV_CONFIG_FILE
 * (environment variables win). Every value is checked at start-up; a wrong one is a ConfigError
 * naming the variable and the value, never a password.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { labelSettings, type LabelSettings } from './orthanc/labels.js';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseTree, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { checkUidRoot } from './uids.js';
import { parseApproaches, type Approach } from './pipeline/approaches.js';
import { parseSegmentLabels } from './segmentation/match.js';
import { parseSwitch, type SegmentationSettings } from './segmentation/settings.js';
import { ownDeviceObserverUids, type DicomInputSettings } from './inputs/settings.js';
import { readTlsFiles, type TlsMaterial } from './orthanc/tls.js';
import { redactUrl } from './orthanc/redact.js';
import { DELIVERY_VARIABLES, deliverySettingsOf } from './delivery/config.js';
import type { DeliverySettings } from './delivery/settings.js';

/** The checked configuration. */
export interface Config {
  readonly orthancUrl: string;
  readonly orthancUsername?: string;
  readonly orthancPassword?: string;
  /** CA, client certificate and key for an https Orthanc, read from ORTHANC_CA_FILE, ORTHANC_CERT_FILE, ORTHANC_KEY_FILE. */
  readonly orthancTls: TlsMaterial;
  readonly stateDir: string;
  readonly httpPort: number;
  /** Address the HTTP API listens on (loopback unless KV_HTTP_HOST opens it). */
  readonly httpHost: string;
  readonly pollIntervalMs: number;
  /** How often the dashboard's study index reads the changes log when idle (its rows live through /events meanwhile). */
  readonly indexPollIntervalMs: number;
  readonly requestTimeoutMs: number;
  readonly retries: number;
  readonly uidRoot?: string;
  readonly srSeriesNumber: number;
  /** What the private-tag approach copies: every image (default) or one image per series. */
  readonly privateScope: 'image' | 'series';
  /** Keep the derived series of older versions of a study's measurements instead of deleting them once the new ones are verified. */
  readonly keepSuperseded: boolean;
  /** Zone of the modalities' clocks for studies without TimezoneOffsetFromUTC: IANA name or ±HHMM. */
  readonly timeZone: string;
  /** True when KV_TIMEZONE is not set and timeZone is this machine's zone (TZ, else the system's): the sidecar warns. */
  readonly timeZoneFromMachine: boolean;
  /** Bearer token for --fhir-server; never printed. */
  readonly fhirToken?: string;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Approaches the sidecar writes for every pending study. */
  readonly approaches: readonly Approach[];
  /** Bearer token of the HTTP API (every route but /health and /ready); without it they are refused. */
  readonly apiToken?: string;
  /** A second token that opens /metrics only, for Prometheus' bearer_token. */
  readonly metricsToken?: string;
  /** Shared secret Orthanc's Lua script sends in the X-KV-Hook-Token header; without it /hooks/orthanc is refused. */
  readonly hookToken?: string;
  readonly sweepIntervalMs: number;
  /** The study label that asks for processing (Orthanc 1.12+), with the outcome labels derived from it. */
  readonly labels: LabelSettings;
  readonly labelIntervalMs: number;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  /** This replica's name in study claims; stable across restarts so a restart resumes its own claims. */
  readonly replicaId: string;
  readonly leaseMs: number;
  /** Whether the sidecar measures kidneys in DICOM SEGs pushed into studies, and the labels it recognises. */
  readonly segmentation: SegmentationSettings;
  /** Whether the sidecar reads kidney volumes from other systems' SRs and from the original tool's private tags (issue 16). */
  readonly inputs: DicomInputSettings;
  /** Studies one sidecar processes at once. */
  readonly concurrency: number;
  /** Forwarding to DICOM archives and HL7 v2 results after the writes; absent when no destination is set. */
  readonly delivery?: DeliverySettings;
  /** Orthanc's address as an admin's browser reaches it, for the dashboard's links to Orthanc Explorer. */
  readonly orthancPublicUrl: string;
  /** Origins besides the sidecar's own from which the dashboard accepts logins and retries (a reverse proxy). */
  readonly dashboardOrigins: readonly string[];
}

/** Environment variables read, with what each sets (the README lists the same). */
export const VARIABLES = {
  ORTHANC_URL: 'Orthanc base URL (default http://localhost:8042)',
  ORTHANC_USERNAME: 'HTTP Basic user for Orthanc',
  ORTHANC_PASSWORD: 'HTTP Basic password for Orthanc',
  ORTHANC_CA_FILE: 'PEM file of the CA(s) that signed the certificate of an https Orthanc',
  ORTHANC_CERT_FILE: 'PEM client certificate for an Orthanc that verifies peers (with ORTHANC_KEY_FILE)',
  ORTHANC_KEY_FILE: 'PEM private key (unencrypted) of ORTHANC_CERT_FILE',
  KV_STATE_DIR: 'folder for the sidecar state and the dashboard\'s study index (default ./.state)',
  KV_ORTHANC_PUBLIC_URL: "Orthanc's address as the admins' browsers reach it, for the dashboard's links (default ORTHANC_URL)",
  KV_DASHBOARD_ORIGINS: 'comma-separated origins (https://pacs.example.org) besides the sidecar\'s own allowed to log in and retry from the dashboard',
  KV_HTTP_PORT: 'port of the HTTP API (default 8080)',
  KV_HTTP_HOST: 'address the HTTP API listens on (default 127.0.0.1; 0.0.0.0 for every interface, as the container image sets)',
  KV_POLL_INTERVAL_MS: 'changes feed poll interval when idle (default 250)',
  KV_INDEX_POLL_INTERVAL_MS: "the dashboard index's changes feed poll interval when idle (default the larger of 1000 and KV_POLL_INTERVAL_MS)",
  KV_REQUEST_TIMEOUT_MS: 'timeout of one request to Orthanc (default 30000)',
  KV_RETRIES: 'retries of idempotent Orthanc calls on connection errors and 5xx (default 3)',
  KV_UID_ROOT: 'organisation UID root for new UIDs (default 2.25 UUID-derived UIDs)',
  KV_SR_SERIES_NUMBER: 'SeriesNumber of the SR series (default 9999)',
  KV_TIMEZONE: "time zone of StudyTime when a study has no TimezoneOffsetFromUTC: IANA name or ±HHMM (default this machine's zone)",
  KV_FHIR_TOKEN: 'bearer token for the FHIR server of attach --fhir-server',
  KV_LOG_LEVEL: 'log level: fatal, error, warn, info, debug, trace, silent (default info)',
  KV_APPROACHES: 'what the sidecar writes: sr, fhir, private or all, or a comma list (default all)',
  KV_API_TOKEN: 'bearer token of the HTTP API: every route but /health and /ready needs it (without it they are refused)',
  KV_METRICS_TOKEN: 'optional second bearer token that opens /metrics only (for Prometheus)',
  KV_HOOK_TOKEN: "shared secret of Orthanc's Lua wake-up (X-KV-Hook-Token header); set the same value in Orthanc's environment",
  KV_SWEEP_INTERVAL_MS: 'interval of the sweep for pending studies the feed missed (default 600000)',
  KV_LABEL: 'study label that asks for processing on Orthanc 1.12+; outcome labels are <label>-done and <label>-failed (default kidney-volumes)',
  KV_LABEL_INTERVAL_MS: 'how often studies with KV_LABEL are looked for on Orthanc 1.12+ (labels are not in the changes feed; default 30000)',
  KV_MAX_ATTEMPTS: 'claims of a study before it is failed; transient faults and crashes both count (default 5)',
  KV_RETRY_BASE_MS: 'first delay before another attempt, doubling each time (default 2000)',
  KV_REPLICA_ID: "this sidecar's name in study claims (default the host name)",
  KV_LEASE_MS: 'how long a claim holds before another replica may take the study over (default 300000)',
  KV_SEGMENTATION: 'measure kidney volumes in DICOM SEGs pushed into studies: on or off (default on)',
  KV_SEGMENT_LABELS: 'segment labels meaning each kidney, "right:<label>,...;left:<label>,..." (default kidney_right, right kidney, ...)',
  KV_CONCURRENCY: 'studies one sidecar processes at once (default 4)',
  KV_VENDOR_SR: "read kidney volumes from other systems' TID 1500 SRs pushed into studies: on or off (default on)",
  KV_LEGACY_TAGS: "read kidney volumes from the original tool's KidneyVolInfo private tags in images: on or off (default on)",
  KV_PRIVATE_SCOPE: 'what the private-tag approach copies: image (every image of each series, the default) or series (one derived image per series)',
  KV_KEEP_SUPERSEDED: 'keep the derived (private-tag) series of older versions of corrected measurements: true or false (default false: deleted once the new copies are verified)',
  ...DELIVERY_VARIABLES,
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
  KV_INDEX_POLL_INTERVAL_MS: integer(50, 3_600_000),
  KV_REQUEST_TIMEOUT_MS: integer(100, 3_600_000),
  KV_RETRIES: integer(0, 20),
  KV_SR_SERIES_NUMBER: integer(1, 2_147_483_647),
  KV_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  KV_SWEEP_INTERVAL_MS: integer(1000, 86_400_000),
  KV_LABEL_INTERVAL_MS: integer(1000, 86_400_000),
  KV_MAX_ATTEMPTS: integer(1, 100),
  KV_RETRY_BASE_MS: integer(10, 3_600_000),
  KV_LEASE_MS: integer(1000, 86_400_000),
  KV_CONCURRENCY: integer(1, 64),
  KV_PRIVATE_SCOPE: z.enum(['image', 'series']),
  KV_REPLICA_ID: z.string().regex(/^[\w.-]{1,64}$/, 'must be 1 to 64 letters, digits, dots, dashes or underscores'),
  // An IP address or a host name: listen() resolves it, and a wrong one fails there naming the variable.
  KV_HTTP_HOST: z.string().regex(/^[\w.:-]{1,253}$/, 'must be an address such as 127.0.0.1, 0.0.0.0 or ::'),
  KV_TIMEZONE: z.string().refine(isTimeZone, 'must be an IANA time zone name (Europe/Berlin) or an offset like +0100'),
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
  let timeZone = source['KV_TIMEZONE'] !== undefined ? pick('KV_TIMEZONE', '') : undefined;
  const username = source['ORTHANC_USERNAME'];
  const password = source['ORTHANC_PASSWORD'];
  if ((username === undefined) !== (password === undefined)) {
    throw new ConfigError('ORTHANC_PASSWORD', 'ORTHANC_USERNAME and ORTHANC_PASSWORD must be set together');
  }
  return {
    orthancUrl: pick('ORTHANC_URL', 'http://localhost:8042').replace(/\/+$/, ''),
    ...(username !== undefined ? { orthancUsername: username } : {}),
    ...(password !== undefined ? { orthancPassword: password } : {}),
    // After orthancUrl in this literal, so the URL is already checked when the files are.
    orthancTls: readTlsFiles(source, source['ORTHANC_URL'] ?? 'http://localhost:8042'),
    stateDir: resolve(source['KV_STATE_DIR'] ?? '.state'),
    httpPort: pick('KV_HTTP_PORT', '8080'),
    httpHost: pick('KV_HTTP_HOST', '127.0.0.1'),
    pollIntervalMs: pick('KV_POLL_INTERVAL_MS', '250'),
    // Slower than the sidecar's feed by default: a burst's study is read once per page instead of
    // at each of its writes, and an idle index polls once a second (issue 17).
    indexPollIntervalMs: pick('KV_INDEX_POLL_INTERVAL_MS', String(Math.max(1000, pick('KV_POLL_INTERVAL_MS', '250')))),
    requestTimeoutMs: pick('KV_REQUEST_TIMEOUT_MS', '30000'),
    retries: pick('KV_RETRIES', '3'),
    ...(uidRoot !== undefined ? { uidRoot: checkUidRoot(uidRoot) } : {}),
    srSeriesNumber: pick('KV_SR_SERIES_NUMBER', '9999'),
    // This machine's zone is looked up only when a step asks for it: the platform's first use of its
    // time zone data costs about 25 ms, which a command writing no times (attach --approach private,
    // verify) need not pay.
    get timeZone(): string {
      return (timeZone ??= machineTimeZone());
    },
    timeZoneFromMachine: timeZone === undefined,
    ...(source['KV_FHIR_TOKEN'] !== undefined ? { fhirToken: source['KV_FHIR_TOKEN'] } : {}),
    logLevel: pick('KV_LOG_LEVEL', 'info'),
    approaches: approachesOf(source['KV_APPROACHES'] ?? 'all'),
    ...(source['KV_API_TOKEN'] !== undefined ? { apiToken: source['KV_API_TOKEN'] } : {}),
    ...(source['KV_METRICS_TOKEN'] !== undefined ? { metricsToken: source['KV_METRICS_TOKEN'] } : {}),
    ...(source['KV_HOOK_TOKEN'] !== undefined ? { hookToken: source['KV_HOOK_TOKEN'] } : {}),
    sweepIntervalMs: pick('KV_SWEEP_INTERVAL_MS', '600000'),
    labels: labelsOf(source['KV_LABEL']),
    labelIntervalMs: pick('KV_LABEL_INTERVAL_MS', '30000'),
    maxAttempts: pick('KV_MAX_ATTEMPTS', '5'),
    retryBaseMs: pick('KV_RETRY_BASE_MS', '2000'),
    replicaId: pick('KV_REPLICA_ID', hostname().replace(/[^\w.-]/g, '-').slice(0, 64) || 'sidecar'),
    leaseMs: pick('KV_LEASE_MS', '300000'),
    segmentation: segmentationOf(source),
    inputs: { vendorSr: switchOf(source, 'KV_VENDOR_SR'), legacyTags: switchOf(source, 'KV_LEGACY_TAGS'), ownDeviceObserverUids: ownDeviceObserverUids(uidRoot !== undefined ? checkUidRoot(uidRoot) : undefined) },
    concurrency: pick('KV_CONCURRENCY', '4'),
    privateScope: pick('KV_PRIVATE_SCOPE', 'image'),
    keepSuperseded: keepSupersededOf(source['KV_KEEP_SUPERSEDED']),
    ...deliveryOf(source),
    orthancPublicUrl: (source['KV_ORTHANC_PUBLIC_URL'] ?? source['ORTHANC_URL'] ?? 'http://localhost:8042').replace(/\/+$/, ''),
    dashboardOrigins: (source['KV_DASHBOARD_ORIGINS'] ?? '').split(',').map((o) => o.trim()).filter((o) => o !== ''),
  };
}

/**
 * Checks that a folder setting names an existing folder this process may write into. Folders are
 * never created silently: a typo would otherwise send files where nobody looks (exit 3 names it).
 */
export function checkFolder(variable: string, path: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(variable, `${variable} ${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'unknown error'})`}; create it (mkdir -p ${path}) or set ${variable} to an existing folder`);
  }
  if (!isDirectory) throw new ConfigError(variable, `${variable} ${path} is not a folder`);
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
  } catch {
    throw new ConfigError(variable, `${variable} ${path} is not writable by this process (user id ${process.getuid?.() ?? 'unknown'}); fix its owner or permissions`);
  }
}

/** The checks the sidecar makes at start beyond loadConfig's: its state folder must exist and be writable. */
export function checkSidecarFolders(config: Config): void {
  checkFolder('KV_STATE_DIR', config.stateDir);
}

/** The label settings from KV_LABEL. */
function labelsOf(request: string | undefined): LabelSettings {
  try {
    return labelSettings(request);
  } catch (error) {
    throw new ConfigError('KV_LABEL', `KV_LABEL ${(error as Error).message}`);
  }
}

/** The deliveries' settings as an optional property (exactOptionalPropertyTypes forbids an undefined value). */
function deliveryOf(source: Readonly<Partial<Record<string, string>>>): { delivery?: DeliverySettings } {
  const delivery = deliverySettingsOf(source);
  // Checked for every command: attach writes the HL7 file as the sidecar does.
  if (delivery?.hl7?.dir !== undefined) checkFolder('KV_HL7_DIR', delivery.hl7.dir);
  return delivery !== undefined ? { delivery } : {};
}

/** KV_SEGMENTATION (on by default) and KV_SEGMENT_LABELS (each side given replaces its defaults). */
function segmentationOf(source: Readonly<Partial<Record<string, string>>>): SegmentationSettings {
  const text = source['KV_SEGMENTATION'] ?? 'on';
  const enabled = parseSwitch(text);
  if (enabled === undefined) throw new ConfigError('KV_SEGMENTATION', `KV_SEGMENTATION must be on or off, got "${text}"`);
  try {
    return { enabled, labels: parseSegmentLabels(source['KV_SEGMENT_LABELS'] ?? '') };
  } catch (error) {
    throw new ConfigError('KV_SEGMENT_LABELS', `KV_SEGMENT_LABELS ${(error as Error).message}`);
  }
}

/** An on/off variable, on by default. */
function keepSupersededOf(text: string | undefined): boolean {
  const keep = parseSwitch(text ?? 'false');
  if (keep === undefined) throw new ConfigError('KV_KEEP_SUPERSEDED', `KV_KEEP_SUPERSEDED must be true or false, got "${text ?? ''}"`);
  return keep;
}

function switchOf(source: Readonly<Partial<Record<string, string>>>, name: 'KV_VENDOR_SR' | 'KV_LEGACY_TAGS'): boolean {
  const text = source[name] ?? 'on';
  const enabled = parseSwitch(text);
  if (enabled === undefined) throw new ConfigError(name, `${name} must be on or off, got "${text}"`);
  return enabled;
}

function approachesOf(text: string): Approach[] {
  try {
    return parseApproaches(text);
  } catch (error) {
    throw new ConfigError('KV_APPROACHES', `KV_APPROACHES ${(error as Error).message.replace(/^--approach /, '')}`);
  }
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

/** This machine's zone (TZ, else the system's), as the platform names it. */
function machineTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** True for an offset within ±14:00 ("+0100", "-05:30") or a zone name the platform's time zone data knows. */
function isTimeZone(text: string): boolean {
  // The common setting, known without loading the platform's time zone data.
  if (text === 'UTC') return true;
  const offset = /^[+-](\d{2}):?(\d{2})$/.exec(text);
  if (offset) return Number(offset[2]) <= 59 && Number(offset[1]) * 60 + Number(offset[2]) <= 14 * 60;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: text });
    return true;
  } catch {
    return false;
  }
}


function definedOnly(env: Readonly<Record<string, string | undefined>>): Partial<Record<VariableName, string>> {
  const out: Partial<Record<VariableName, string>> = {};
  for (const name of Object.keys(VARIABLES) as VariableName[]) {
    const value = env[name];
    if (value !== undefined && value !== '') out[name] = value;
  }
  return out;
}

/** Plain words for jsonc-parser's error codes; none of them quotes the file. */
const JSON_PROBLEMS: Readonly<Record<string, string>> = {
  InvalidSymbol: 'unexpected characters (a value must be a "quoted text" or a number)',
  InvalidNumberFormat: 'a malformed number',
  PropertyNameExpected: 'a "quoted" key is expected',
  ValueExpected: 'a value is expected',
  ColonExpected: 'a ":" is expected',
  CommaExpected: 'a "," is expected',
  CloseBraceExpected: 'a "}" is expected',
  CloseBracketExpected: 'a "]" is expected',
  EndOfFileExpected: 'nothing may follow the object',
  InvalidCommentToken: 'comments are not allowed in JSON',
  UnexpectedEndOfComment: 'comments are not allowed in JSON',
  UnexpectedEndOfString: 'a text is not closed by a double quote',
  UnexpectedEndOfNumber: 'a number is cut off',
  InvalidUnicode: 'a malformed \\u escape',
  InvalidEscapeCharacter: 'a malformed backslash escape',
  InvalidCharacter: 'a control character (a line break, say) inside a text',
};

/** 1-based line and column of a character offset, for messages that must not quote the text. */
export function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - (before.lastIndexOf('\n') + 1) + 1}`;
}

/**
 * Reads KV_CONFIG_FILE. Errors name the file, line and column and never quote the file: it holds
 * passwords, and JSON.parse's own messages show the text around the fault.
 */
function readConfigFile(path: string | undefined): Partial<Record<VariableName, string>> {
  if (path === undefined || path === '') return {};
  const fail = (message: string): never => {
    throw new ConfigError('KV_CONFIG_FILE', `KV_CONFIG_FILE ${path} ${message}`);
  };
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    fail(`cannot be read: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  const errors: ParseError[] = [];
  const tree = parseTree(text.replace(/^\uFEFF/, ''), errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (first !== undefined) {
    const code = printParseErrorCode(first.error);
    fail(`is not valid JSON at ${lineAndColumn(text, first.offset)}: ${JSON_PROBLEMS[code] ?? code}`);
  }
  if (tree === undefined || tree.type !== 'object') fail('must hold a JSON object of variable names to values');
  const out: Partial<Record<VariableName, string>> = {};
  for (const property of tree?.children ?? []) {
    const [keyNode, valueNode] = property.children ?? [];
    const key: unknown = keyNode?.value;
    const where = lineAndColumn(text, property.offset);
    // Object.hasOwn: a key like "toString" is unknown, not Object.prototype's member.
    if (typeof key !== 'string' || !Object.hasOwn(VARIABLES, key) || key === 'KV_CONFIG_FILE') {
      // A key is shown only when it looks like a variable name, so a misplaced secret is never printed.
      const shown = typeof key === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(key) ? `key "${key}"` : 'key';
      fail(`has an unknown ${shown} at ${where}; known: ${Object.keys(VARIABLES).filter((k) => k !== 'KV_CONFIG_FILE').join(', ')}`);
    }
    const value: unknown = valueNode?.value;
    if ((valueNode?.type !== 'string' && valueNode?.type !== 'number') || value === undefined) {
      fail(`at ${where}: "${key}" must be a string or a number`);
    }
    out[key as VariableName] = String(value);
  }
  return out;
}
