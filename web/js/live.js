// @ts-check
/** The sidecar's /events WebSocket, reconnecting by itself with a growing pause (1 s up to 15 s). */

/**
 * @typedef {{ kind: string, studyId: string, at: string, message?: string }} StudyEvent
 */

/**
 * Connects and keeps connecting; answers a function that stops.
 * @param {(event: StudyEvent) => void} onEvent
 * @param {(state: 'live' | 'reconnecting') => void} onState
 * @param {() => void} onReconnected called after a reconnection, when events may have been missed
 */
export function follow(onEvent, onState, onReconnected) {
  let stopped = false;
  let delay = 1000;
  let everOpen = false;
  /** @type {WebSocket | undefined} */
  let socket;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const connect = () => {
    socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/events`);
    socket.addEventListener('open', () => {
      delay = 1000;
      onState('live');
      if (everOpen) onReconnected();
      everOpen = true;
    });
    socket.addEventListener('message', (message) => {
      try {
        onEvent(JSON.parse(String(message.data)));
      } catch {
        // Not an event of ours: ignore it rather than stop following.
      }
    });
    socket.addEventListener('close', () => {
      if (stopped) return;
      onState('reconnecting');
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    });
  };
  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    socket?.close();
  };
}
