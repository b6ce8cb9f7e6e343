// @ts-check
/** Calls to the dashboard's JSON API; a 401 anywhere sends the page back to the login form. */

/** Thrown when the server answers with an error; its message is the server's. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** @type {() => void} */
let onUnauthorized = () => {};

/**
 * Sets what happens when the session is gone.
 * @param {() => void} handler
 */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/**
 * GETs or POSTs JSON; resolves to the parsed body (undefined for 204).
 * @param {string} path
 * @param {{ method?: string, body?: unknown }} [options]
 * @returns {Promise<any>}
 */
export async function api(path, options = {}) {
  /** @type {RequestInit} */
  const init = { method: options.method ?? 'GET', credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers = { ...init.headers, 'content-type': 'application/json' };
  }
  const response = await fetch(path, init);
  if (response.status === 204) return undefined;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401 && !path.endsWith('/login')) onUnauthorized();
    throw new ApiError(response.status, body?.error?.message ?? `${response.status} ${response.statusText}`);
  }
  return body;
}
