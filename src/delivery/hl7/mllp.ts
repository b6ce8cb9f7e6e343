/**
 * Sends one message over MLLP (HL7 v2 Minimal Lower Layer Protocol: 0x0B, message, 0x1C 0x0D)
 * and waits for the one answer. Written on node:net rather than node-hl7-client's Client, whose
 * connections reconnect and queue messages in memory on their own and report ACKs through one
 * callback per connection: a message we gave up on could still go out later, behind our back.
 */
import { connect } from 'node:net';
import { DeliveryAttemptError } from '../errors.js';
import type { MllpTarget } from '../settings.js';

const START = 0x0b;
const END = Buffer.from([0x1c, 0x0d]);

/** Why an exchange failed: no connection, no answer in time, or the peer closed first. */
export type MllpFailure = 'refused' | 'timeout' | 'closed' | 'network';

/** The exchange failed before an answer arrived. */
export class MllpError extends DeliveryAttemptError {
  /** Makes the error; the message names the peer and what happened. Each is worth another attempt. */
  constructor(
    readonly failure: MllpFailure,
    message: string,
  ) {
    super(message);
    this.name = 'MllpError';
  }
}

/** Frames a message for MLLP. */
export function frame(message: string): Buffer {
  return Buffer.concat([Buffer.from([START]), Buffer.from(message, 'utf8'), END]);
}

/** The first complete frame's content in `data`, or undefined while it is incomplete. */
export function unframe(data: Buffer): string | undefined {
  const start = data.indexOf(START);
  if (start < 0) return undefined;
  const end = data.indexOf(END, start + 1);
  return end < 0 ? undefined : data.subarray(start + 1, end).toString('utf8');
}

/** Sends `message` to the target and answers the reply's text; one connection per message, closed afterwards. */
export function sendMllp(target: MllpTarget, message: string, timeoutMs: number): Promise<string> {
  const peer = `${target.host}:${target.port}`;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port });
    let received = Buffer.alloc(0);
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      outcome();
    };
    // One deadline for connecting, sending and the ACK: that is what a caller waits for.
    const timer = setTimeout(
      () => settle(() => reject(new MllpError('timeout', `no ACK from ${peer} within ${timeoutMs} ms`))),
      timeoutMs,
    );
    socket.once('connect', () => socket.write(frame(message)));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const reply = unframe(received);
      if (reply !== undefined) settle(() => resolve(reply));
    });
    socket.once('end', () => settle(() => reject(new MllpError('closed', `${peer} closed the connection without an ACK`))));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const refused = error.code === 'ECONNREFUSED';
      settle(() => reject(new MllpError(refused ? 'refused' : 'network', `cannot send to ${peer} (${refused ? 'connection refused' : error.code ?? error.message})`)));
    });
  });
}
