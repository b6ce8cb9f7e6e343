/** Live events over WebSocket (path /events): one JSON object per state change of a study, and thinned `progress` reports. */
import type { Server } from 'node:http';
import { WebSocketServer } from 'ws';
import { refusal } from './auth.js';
import type { LiveEvent, LiveEvents } from './sidecar-view.js';

/**
 * Attaches the /events WebSocket endpoint to an HTTP server; answers a function that closes it.
 * The upgrade needs the API token (Authorization header or the dashboard's cookie) and, from a
 * browser, the sidecar's own Origin: a page elsewhere must not read the stream with the cookie.
 */
export function attachEventSocket(server: Server, events: LiveEvents, apiToken: string | undefined): () => Promise<void> {
  const wss = new WebSocketServer({
    server,
    path: '/events',
    verifyClient: ({ req }, done) => {
      const refused = refusal(req, [apiToken]);
      if (refused === undefined) return done(true);
      done(false, refused.status, refused.message, refused.status === 401 ? { 'www-authenticate': 'Bearer' } : {});
    },
  });
  wss.on('connection', (socket) => {
    const send = (event: LiveEvent): void => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(event));
    };
    const stopChanges = events.subscribeChanges(send);
    const stopProgress = events.subscribeProgress(send);
    const stop = (): void => {
      stopChanges();
      stopProgress();
    };
    socket.on('close', stop);
    socket.on('error', stop);
  });
  return () =>
    new Promise((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close(() => resolve());
    });
}
