/** Orthanc's address as messages and logs may show it. */

/** A URL with any user:password part removed, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//');
}
