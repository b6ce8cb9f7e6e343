/** Reading an HL7 v2 acknowledgment (v2.5.1 section 2.9.2, original mode) with node-hl7-client's parser. */
import { Message } from 'node-hl7-client';
import { DeliveryAttemptError } from '../errors.js';

/** MSA-1 codes: original mode (AA, AE, AR) and enhanced mode (CA, CE, CR). */
export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

/** What an ACK says. */
export interface Ack {
  readonly code: AckCode;
  /** MSA-2: the control ID of the message acknowledged. */
  readonly controlId: string;
  /** MSA-3 and the ERR segments' texts, for people; empty when the receiver said nothing. */
  readonly text: string;
}

/** The reply is not an ACK we can read (a garbled reply may come right the next time). */
export class AckFormatError extends DeliveryAttemptError {
  /** Makes the error, quoting the start of the reply. */
  constructor(reply: string, why: string) {
    super(`the reply is not a readable HL7 ACK (${why}): "${reply.slice(0, 120).replace(/\r/g, '\\r')}"`);
    this.name = 'AckFormatError';
  }
}

const CODES: readonly string[] = ['AA', 'AE', 'AR', 'CA', 'CE', 'CR'];

/** Parses an ACK's MSA and ERR segments. */
export function parseAck(reply: string): Ack {
  let message: Message;
  try {
    // Some receivers end segments with LF or CRLF instead of the CR the standard asks for.
    message = new Message({ text: reply.trim().replace(/\r?\n/g, '\r') });
  } catch (error) {
    throw new AckFormatError(reply, (error as Error).message);
  }
  const code = message.get('MSA.1').toString();
  if (!CODES.includes(code)) throw new AckFormatError(reply, `MSA-1 should be AA, AE or AR, is "${code}"`);
  const texts = [message.get('MSA.3').toString()];
  if (message.exists('ERR')) {
    // ERR-8 user message (v2.5), ERR-3.2 error code text (v2.5), ERR-1.4.2 error code text (v2.4 and older).
    message.get('ERR').forEach((err) => texts.push(err.get('8').toString(), err.get('3.2').toString(), err.get('1.4.2').toString()));
  }
  const text = [...new Set(texts.map((t) => t.trim()).filter((t) => t !== ''))].join('; ');
  return { code: code as AckCode, controlId: message.get('MSA.2').toString(), text };
}
