/** A real MLLP listener for tests (node:net): records what arrives and answers as each test tells it. */
import { createServer, type Socket } from 'node:net';
import { Message } from 'node-hl7-client';
import { frame, unframe } from '../../src/delivery/hl7/mllp.js';

/** How the listener answers one message: an ACK code (with text), silence, or hanging up. */
export type Reply = { readonly code: 'AA' | 'AE' | 'AR'; readonly text?: string; readonly controlId?: string } | 'silent' | 'hang-up';

/** A running listener. */
export interface MllpListener {
  readonly host: string;
  readonly port: number;
  /** Every message received, as text without framing. */
  readonly received: string[];
  stop(): Promise<void>;
}

/** Starts a listener answering the n-th message (0-based) with `reply(n)`, on `port` (default: any free one). */
export async function startMllpListener(reply: (n: number) => Reply, port = 0): Promise<MllpListener> {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let data = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const text = unframe(data);
      if (text === undefined) return;
      data = Buffer.alloc(0);
      const answer = reply(received.length);
      received.push(text);
      if (answer === 'silent') return;
      if (answer === 'hang-up') {
        socket.end();
        return;
      }
      socket.write(frame(ackFor(text, answer.code, answer.text, answer.controlId)));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return {
    host: '127.0.0.1',
    port: address.port,
    received,
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
