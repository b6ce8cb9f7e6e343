/** attach's FHIR extras: the FHIR step's Bundle to a file (--fhir-out) and to a FHIR server (--fhir-server). */
import { writeFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { serializeResource } from '../fhir/serialize.js';
import { sendBundle } from '../fhir/transaction.js';
import type { Approach } from '../pipeline/approaches.js';
import type { AttachReport } from '../pipeline/attach.js';
import { outcomeFor } from '../pipeline/outcomes.js';

/** The FHIR flags of attach, as commander gives them. */
export interface FhirDeliveryOptions {
  readonly fhirOut?: string;
  readonly fhirServer?: string;
}

/** What was delivered, for the printed report. */
export interface FhirDelivery {
  /** The file the Bundle was written to. */
  readonly file?: string;
  /**
   * The FHIR server's answer: resources created, Observations updated in place (a new version of
   * each), and resources it already held as they are (conditional creates found, Observations not sent).
   */
  readonly server?: { readonly url: string; readonly created: number; readonly updated: number; readonly existing: number };
}

/** Checks the flags before anything is written: both need the fhir approach, the server an http(s) URL. */
export function checkFhirDelivery(options: FhirDeliveryOptions, approaches: readonly Approach[]): void {
  const flag = options.fhirOut !== undefined ? '--fhir-out' : options.fhirServer !== undefined ? '--fhir-server' : undefined;
  if (flag !== undefined && !approaches.includes('fhir')) {
    throw new UsageError(`${flag} needs the fhir approach (--approach fhir or all), got --approach ${approaches.join(',')}`);
  }
  if (options.fhirServer !== undefined && !/^https?:\/\/[^/\s]/.test(options.fhirServer)) {
    throw new UsageError(`--fhir-server must be a FHIR base URL such as https://fhir.example.org/fhir, got "${options.fhirServer}"`);
  }
}

/** Writes the FHIR step's Bundle to the file and posts it to the server as the flags ask; FhirServerError when the server refuses. */
export async function deliverFhir(report: AttachReport, options: FhirDeliveryOptions, token: string | undefined): Promise<FhirDelivery> {
  if (options.fhirOut === undefined && options.fhirServer === undefined) return {};
  const bundle = outcomeFor(report.outcomes, 'fhir')?.bundle;
  // checkFhirDelivery made sure the fhir step ran, so no Bundle here is a bug, not a user error.
  if (bundle === undefined) throw new Error('the fhir step ran but handed over no Bundle');
  let delivery: FhirDelivery = {};
  if (options.fhirOut !== undefined) {
    writeFileSync(options.fhirOut, `${serializeResource(bundle, { indent: 2 })}\n`, 'utf8');
    delivery = { file: options.fhirOut };
  }
  if (options.fhirServer !== undefined) {
    // Reads what the server holds first, so the same version sent again changes nothing (src/fhir/transaction.ts).
    const result = await sendBundle(options.fhirServer, bundle, token !== undefined ? { token } : {});
    const existing = result.entries.length - result.created - result.updated + result.unchanged;
    delivery = { ...delivery, server: { url: options.fhirServer, created: result.created, updated: result.updated, existing } };
  }
  return delivery;
}

/** One line per delivery, for people. */
export function fhirDeliveryLines(delivery: FhirDelivery): string[] {
  const lines: string[] = [];
  if (delivery.file !== undefined) lines.push(`fhir: Bundle written to ${delivery.file}`);
  const server = delivery.server;
  if (server !== undefined) lines.push(`fhir: FHIR server ${server.url}: ${server.created} created, ${server.updated} updated, ${server.existing} already there`);
  return lines;
}
