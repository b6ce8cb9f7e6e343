/** The deliveries' environment variables (issue 9), checked like the rest of the configuration. */
import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { z } from 'zod';
import type { DeliverySettings, DicomwebDestination, ForwardSettings, Hl7Party, Hl7Settings, MllpTarget } from './settings.js';

/** The variables, with what each sets; src/config.ts merges them into its list (the README lists the same). */
export const DELIVERY_VARIABLES = {
  KV_FORWARD_MODALITIES: "Orthanc modalities (DicomModalities names) to C-STORE the SR to, comma-separated (default none)",
  KV_FORWARD_DERIVED: 'true to forward the derived series with the private tags too (default false)',
  KV_FORWARD_TIMEOUT_MS: 'timeout of one synchronous C-STORE through Orthanc (default 600000)',
  KV_DICOMWEB: 'JSON list of DICOMweb archives for STOW-RS: [{"name","url","username","password" or "token","derived","timeoutMs"}] (default none)',
  KV_HL7_DIR: 'folder for one HL7 ORU^R01 file per study and version of its measurements (default none)',
  KV_HL7_MLLP: 'host:port of an HL7 MLLP receiver for the ORU^R01 (default none)',
  KV_HL7_TIMEOUT_MS: 'how long to wait for the MLLP connection and ACK (default 10000)',
  KV_HL7_SENDER: 'MSH-3^MSH-4, sending application and facility (default KIDNEY_VOLUMES)',
  KV_HL7_RECEIVER: 'MSH-5^MSH-6, receiving application and facility (default empty)',
  KV_DELIVERY_ATTEMPTS: 'attempts per forward or HL7 destination before the study fails (default 3)',
  KV_DELIVERY_RETRY_BASE_MS: 'delay before the second delivery attempt, doubling each time (default 1000)',
} as const;

type Source = Readonly<Partial<Record<string, string>>>;

/** A whole number between min and max, as text; the messages are the ones src/config.ts gives. */
const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be between ${min} and ${max}`).max(max, `must be between ${min} and ${max}`));

/** An HL7 HD pair "application^facility" (MSH-3/4 or MSH-5/6). */
const party = z
  .string()
  .transform((raw) => raw.split('^'))
  .refine((parts) => parts.length <= 2 && parts.every((p) => p.length <= 227), 'must be application or application^facility')
  .transform(([application = '', facility = '']): Hl7Party => ({ application, facility }));

// Orthanc's symbolic names go into a URL path; its own examples use letters, digits, dashes and underscores.
const modalities = z
  .string()
  .transform((raw) => raw.split(',').map((m) => m.trim()))
  .refine((names) => names.every((m) => /^[\w.-]{1,64}$/.test(m)), 'must be a comma list of Orthanc modality names (letters, digits, . _ -)')
  .transform((names) => [...new Set(names)]);

const MLLP = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/;
const mllp = z
  .string()
  .transform((raw) => MLLP.exec(raw.trim()))
  .refine((match): match is RegExpExecArray => match !== null && Number(match[2]) >= 1 && Number(match[2]) <= 65535, 'must be host:port, e.g. 10.0.0.5:2575')
  .transform((match): MllpTarget => ({ host: (match[1] ?? '').replace(/^\[|\]$/g, ''), port: Number(match[2]) }));

/** The schema of each delivery variable but KV_DICOMWEB (a JSON list, checked by destinationSchema below). */
const schema = {
  KV_FORWARD_MODALITIES: modalities,
  KV_FORWARD_DERIVED: z
    .string()
    .transform((raw) => raw.toLowerCase())
    .refine((raw) => raw === 'true' || raw === 'false', 'must be true or false')
    .transform((raw) => raw === 'true'),
  KV_FORWARD_TIMEOUT_MS: integer(1000, 86_400_000),
  KV_HL7_MLLP: mllp,
  KV_HL7_TIMEOUT_MS: integer(100, 600_000),
  KV_HL7_SENDER: party,
  KV_HL7_RECEIVER: party,
  KV_DELIVERY_ATTEMPTS: integer(1, 20),
  KV_DELIVERY_RETRY_BASE_MS: integer(0, 600_000),
} as const;

type Checked = keyof typeof schema;

/** The variable's checked value, or the fallback's when it is not set; a ConfigError naming the variable, the rule and the value otherwise. */
function pick<K extends Checked>(source: Source, name: K, fallback: string): z.output<(typeof schema)[K]>;
function pick<K extends Checked>(source: Source, name: K): z.output<(typeof schema)[K]> | undefined;
function pick<K extends Checked>(source: Source, name: K, fallback?: string): z.output<(typeof schema)[K]> | undefined {
  const raw = source[name] ?? fallback;
  if (raw === undefined) return undefined;
  const parsed = schema[name].safeParse(raw);
  if (!parsed.success) fail(name, parsed.error.issues[0]?.message ?? 'is invalid', raw);
  return parsed.data as z.output<(typeof schema)[K]>;
}

/** Delivery settings from the checked variables; undefined when no destination is configured. */
export function deliverySettingsOf(source: Source): DeliverySettings | undefined {
  const forward = forwardOf(source);
  const hl7 = hl7Of(source);
  const dicomweb = source['KV_DICOMWEB'] !== undefined ? dicomwebOf(source['KV_DICOMWEB']) : undefined;
  if (forward === undefined && hl7 === undefined && dicomweb === undefined) return undefined;
  return {
    ...(forward !== undefined ? { forward } : {}),
    ...(dicomweb !== undefined ? { dicomweb } : {}),
    ...(hl7 !== undefined ? { hl7 } : {}),
    attempts: pick(source, 'KV_DELIVERY_ATTEMPTS', '3'),
    retryBaseMs: pick(source, 'KV_DELIVERY_RETRY_BASE_MS', '1000'),
  };
}

function forwardOf(source: Source): ForwardSettings | undefined {
  const derived = pick(source, 'KV_FORWARD_DERIVED', 'false');
  const timeoutMs = pick(source, 'KV_FORWARD_TIMEOUT_MS', '600000');
  const names = pick(source, 'KV_FORWARD_MODALITIES');
  return names === undefined ? undefined : { modalities: names, derived, timeoutMs };
}

const destinationSchema = z
  .object({
    name: z.string().regex(/^[\w.-]{1,64}$/, 'name must be 1 to 64 letters, digits, . _ or -'),
    url: z.string().url().refine((u) => /^https?:\/\//.test(u), 'url must be http:// or https://'),
    username: z.string().optional(),
    password: z.string().optional(),
    token: z.string().optional(),
    derived: z.boolean().default(false),
    timeoutMs: z.number().int().min(1000).max(86_400_000).default(600_000),
  })
  .strict()
  .refine((d) => (d.username === undefined) === (d.password === undefined), 'username and password go together')
  .refine((d) => d.token === undefined || d.username === undefined, 'give either username and password or token, not both');

function dicomwebOf(raw: string): DicomwebDestination[] {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    fail('KV_DICOMWEB', 'must be a JSON list of destinations', redact(raw));
  }
  const parsed = z.array(destinationSchema).min(1).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail('KV_DICOMWEB', `must be a JSON list of destinations: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(), redact(raw));
  }
  const names = parsed.data.map((d) => d.name);
  if (new Set(names).size !== names.length) fail('KV_DICOMWEB', 'destination names must be unique', redact(raw));
  return parsed.data.map((d) => ({
    name: d.name,
    url: d.url,
    ...(d.username !== undefined ? { username: d.username, password: d.password ?? '' } : {}),
    ...(d.token !== undefined ? { token: d.token } : {}),
    derived: d.derived,
    timeoutMs: d.timeoutMs,
  }));
}

/** The raw value without secrets, for error messages. */
function redact(raw: string): string {
  return raw.replace(/"(password|token)"\s*:\s*"[^"]*"/g, '"$1":"***"');
}

function hl7Of(source: Source): Hl7Settings | undefined {
  const dir = source['KV_HL7_DIR'];
  const target = pick(source, 'KV_HL7_MLLP');
  const timeoutMs = pick(source, 'KV_HL7_TIMEOUT_MS', '10000');
  const sender = pick(source, 'KV_HL7_SENDER', 'KIDNEY_VOLUMES');
  const receiver = pick(source, 'KV_HL7_RECEIVER', '');
  if (dir === undefined && target === undefined) return undefined;
  return { ...(dir !== undefined ? { dir: resolve(dir) } : {}), ...(target ? { mllp: target } : {}), timeoutMs, sender, receiver };
}

function fail(name: string, rule: string, raw: string): never {
  throw new ConfigError(name, `${name} ${rule}, got "${raw}"`);
}
