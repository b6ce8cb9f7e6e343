/**
 * A real MLLP listener for tests (node:net): records what arrives and answers as each test tells it.
 * It frames and unframes with its own code, from the standard's three bytes, never with the
 * project's frame/unframe: a framing bug on both sides would otherwise pass.
 */
import { createServer, type Socket } from 'node:net';
import { Message } from 'node-hl7-client';

/** MLLP (HL7 v2.5.1 Appendix C): <VT> message <FS><CR>. */
const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

/** The bytes MLLP puts on the wire for a message. */
export function mllpFrame(message: string): Buffer {
  return Buffer.concat([Buffer.from([VT]), Buffer.from(message, 'utf8'), Buffer.from([FS, CR])]);
}

/**
 * The first whole frame in `data` and the bytes after it, or undefined while it is incomplete.
 * Anything before the <VT> is a protocol error the test should see, not something to skip.
 */
export function mllpUnframe(data: Buffer): { message: string; rest: Buffer } | undefined {
  if (data.length === 0) return undefined;
  if (data[0] !== VT) throw new Error(`MLLP frame does not start with <VT> (0x0b): first byte 0x${data[0]!.toString(16).padStart(2, '0')}`);
  for (let i = 1; i + 1 < data.length; i++) {
    if (data[i] === FS && data[i + 1] === CR) return { message: data.subarray(1, i).toString('utf8'), rest: data.subarray(i + 2) };
  }
  return undefined;
}

/** How the listener answers one message: an ACK code (with text), silence, or hanging up. */
export type Reply = { readonly code: 'AA' | 'AE' | 'AR'; readonly text?: string; readonly controlId?: string } | 'silent' | 'hang-up';

/** A running listener. */
export interface MllpListener {
  readonly host: string;
  readonly port: number;
  /** Every message received, as text without framing. */
  readonly received: string[];
  /** Frames that broke MLLP (the connection was closed on them). */
  readonly protocolErrors: string[];
  stop(): Promise<void>;
}

/** Starts a listener answering the n-th message (0-based) with `reply(n)`, on `port` (default: any free one). */
export async function startMllpListener(reply: (n: number) => Reply, port = 0): Promise<MllpListener> {
  const received: string[] = [];
  const protocolErrors: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let data = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      for (;;) {
        let framed;
        try {
          framed = mllpUnframe(data);
        } catch (error) {
          protocolErrors.push((error as Error).message);
          socket.destroy();
          return;
        }
        if (framed === undefined) return;
        data = Buffer.from(framed.rest);
        const text = framed.message;
        const answer = reply(received.length);
        received.push(text);
        if (answer === 'silent') continue;
        if (answer === 'hang-up') {
          socket.end();
          return;
        }
        socket.write(mllpFrame(ackFor(text, answer.code, answer.text, answer.controlId)));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return {
    host: '127.0.0.1',
    port: address.port,
    received,
    protocolErrors,
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** An original-mode ACK for a message, with an ERR segment carrying the text when the code is not AA. */
function ackFor(text: string, code: string, reason: string | undefined, controlId: string | undefined): string {
  const message = new Message({ text });
  const id = controlId ?? message.get('MSH.10').toString();
  const segments = [`MSH|^~\\&|TEST-RIS|TEST|KIDNEY_VOLUMES||20240507080910||ACK^R01^ACK|ACK-${id}|P|2.5.1`, `MSA|${code}|${id}${reason !== undefined ? `|${reason}` : ''}`];
  if (code !== 'AA' && reason !== undefined) segments.push(`ERR|||207^Application internal error^HL70357|E||||${reason}`);
  return segments.join('\r');
}
