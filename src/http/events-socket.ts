/** Live events over WebSocket (path /events): one JSON object per message. */
import type { Server } from 'node:http';
import { WebSocketServer } from 'ws';
import type { SidecarEvents } from '../sidecar/events.js';

/** Attaches the /events WebSocket endpoint to an HTTP server; answers a function that closes it. */
export function attachEventSocket(server: Server, events: SidecarEvents): () => Promise<void> {
  const wss = new WebSocketServer({ server, path: '/events' });
  wss.on('connection', (socket) => {
    const stop = events.subscribe((event) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(event));
    });
    socket.on('close', stop);
    socket.on('error', stop);
  });
  return () =>
    new Promise((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close(() => resolve());
    });
}
