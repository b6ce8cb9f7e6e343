/**
 * The HL7 v2 delivery (issue 9): the study's ORU^R01 written to a folder and/or sent over MLLP,
 * each destination with its own attempts. ACK semantics: AA (CA) is done; AE (CE) is retried,
 * since integration engines answer AE when their own processing failed (a database, a lookup);
 * AR (CR) is final, as the receiver refuses this message as such (type, version, structure).
 */
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDicomUid } from '../../uids.js';
import { messageOf } from '../../errors.js';
import type { DeliveryContext, DeliveryOutcome, DeliveryResult, Hl7Details } from '../context.js';
import { DeliveryAttemptError, type DeliveryFailure } from '../errors.js';
import { attempt } from '../../retry.js';
import type { Hl7Settings } from '../settings.js';
import { parseAck, type Ack } from './ack.js';
import { sendMllp } from './mllp.js';
import { oruR01 } from './oru.js';
import { readKidneyVolumeBundle } from '../../fhir/read.js';
import { serializeResource } from '../../fhir/serialize.js';
import { resultVersionOf, versionAfter, type ResultVersion } from '../../fhir/versions.js';
import { releasedBefore } from '../../inputs/released.js';

/** The receiver answered with an ACK that is not AA. */
export class AckRefusedError extends DeliveryAttemptError {
  /** Makes the error; the message quotes MSA-1 and the receiver's texts. AR and CR are final: the receiver refuses this message as such. */
  constructor(readonly ack: Ack) {
    super(`ACK ${ack.code}${ack.text !== '' ? `: ${ack.text}` : ' without a reason'}`, ack.code === 'AR' || ack.code === 'CR');
    this.name = 'AckRefusedError';
  }
}

const CONTROL_ID = /^[0-9A-Z]{1,20}$/;

/** A study whose StudyInstanceUID cannot name a file: refused, never cleaned up into some other name. */
export class UnsafeFileNameError extends DeliveryAttemptError {
  /** Makes the error; the UID is quoted as JSON so control characters show. Permanent: no attempt would give it another name. */
  constructor(studyInstanceUid: string) {
    super(`StudyInstanceUID ${JSON.stringify(studyInstanceUid.slice(0, 80))} is not a DICOM UID (digits and dots, at most 64 characters), so it cannot name the HL7 file`, true);
    this.name = 'UnsafeFileNameError';
  }
}

/**
 * The file name of a message: StudyInstanceUID and the message's MSH-10. The MSH-10 is one per
 * Orthanc study and version of its measurements (src/delivery/hl7/oru.ts controlIdOf), so each
 * version of each study (two patients' studies that share a StudyInstanceUID, a return to earlier
 * values) has its own file, and a retry of a version writes the same file again. Built only from
 * digits, dots, upper-case letters and "_": a UID such as "../../escaped" would otherwise write
 * outside KV_HL7_DIR.
 */
export function hl7FileName(studyInstanceUid: string, controlId: string): string {
  // A DICOM UID is digits and dots only, so it can name a file in any folder.
  if (!isDicomUid(studyInstanceUid)) throw new UnsafeFileNameError(studyInstanceUid);
  if (!CONTROL_ID.test(controlId)) throw new Error(`the message control ID must be up to 20 digits and capitals, got ${JSON.stringify(controlId.slice(0, 80))}`);
  return `${studyInstanceUid}_${controlId}.hl7`;
}

/**
 * The version of the results this run wrote. With the fhir approach, as its Bundle records it (the
 * same data its statuses come from, so FHIR and HL7 never disagree about what changed); without
 * it, from the versions the study's status history kept (src/inputs/released.ts), by the same rules.
 */
export async function versionForHl7(context: DeliveryContext): Promise<ResultVersion> {
  const bundle = context.written.fhirBundle;
  if (bundle !== undefined) return resultVersionOf(readKidneyVolumeBundle(serializeResource(bundle)), context.measurements);
  return versionAfter(await releasedBefore(context.client, context.facts.orthancId, context.measurements.digest), context.measurements);
}

/** Builds the ORU^R01 and delivers it to each configured destination. */
export async function deliverHl7(context: DeliveryContext, settings: Hl7Settings): Promise<DeliveryResult<Extract<DeliveryOutcome, { approach: 'hl7' }>>> {
  const version = await versionForHl7(context);
  const message = oruR01(context.facts, context.measurements, context.now, { sender: settings.sender, receiver: settings.receiver }, version);
  let file: Hl7Details['file'];
  let mllp: Hl7Details['mllp'];
  const delivered: string[] = [];
  const failures: DeliveryFailure[] = [];
  if (settings.dir !== undefined) {
    const dir = settings.dir;
    const { studyInstanceUid } = context.facts;
    // A name that cannot be built fails at once: no attempt would give it another.
    const result = await attempt(context.retry, () => writeMessage(dir, hl7FileName(studyInstanceUid, message.controlId), message.text));
    if (result.ok) {
      file = result.value;
      delivered.push(`HL7 written to ${result.value}`);
    } else {
      failures.push({ destination: `HL7 folder ${dir}`, message: `cannot write the message: ${messageOf(result.error)}`, attempts: result.attempts, permanent: result.permanent });
    }
  }
  if (settings.mllp !== undefined) {
    const peer = `${settings.mllp.host}:${settings.mllp.port}`;
    const target = settings.mllp;
    const result = await attempt(context.retry, async () => {
      const ack = parseAck(await sendMllp(target, message.text, settings.timeoutMs));
      if (ack.controlId !== message.controlId) throw new DeliveryAttemptError(`the ACK is for message ${ack.controlId || '(none)'}, not ${message.controlId}`);
      if (ack.code !== 'AA' && ack.code !== 'CA') throw new AckRefusedError(ack);
      return ack;
    });
    if (result.ok) {
      mllp = { peer, ack: result.value.code, ...(result.value.text !== '' ? { text: result.value.text } : {}), attempts: result.attempts };
      delivered.push(`HL7 sent to ${peer} (ACK ${result.value.code})`);
    } else {
      failures.push({ destination: `HL7 MLLP ${peer}`, message: messageOf(result.error), attempts: result.attempts, permanent: result.permanent });
    }
  }
  const kind = version.correction ? ' (correction, OBR-25 C)' : '';
  const summary = `ORU^R01 ${message.controlId}${kind} with ${context.measurements.measurements.length} OBX: ${delivered.join(', ')}`;
  const details: Hl7Details = {
    messageType: 'ORU^R01',
    controlId: message.controlId,
    observations: context.measurements.measurements.length,
    resultStatus: version.correction ? 'C' : 'F',
    ...(file !== undefined ? { file } : {}),
    ...(mllp !== undefined ? { mllp } : {}),
  };
  return { outcome: { approach: 'hl7', summary, alreadyPresent: false, details }, delivered, failures };
}

/**
 * Writes beside the target and renames, so a folder watched by an interface engine never shows half
 * a message. A file of the same name is this very message (the same MSH-10) from an earlier attempt:
 * the rename replaces it, and an engine that already took it sees a duplicate it can tell by MSH-10.
 */
async function writeMessage(dir: string, name: string, text: string): Promise<string> {
  // No mkdir: KV_HL7_DIR was checked at start, and a folder that went away since is an error to see.
  const path = join(dir, name);
  const partial = `${path}.partial`;
  await writeFile(partial, text, 'utf8');
  await rename(partial, path);
  return path;
}
