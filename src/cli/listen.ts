/** A listen host as it goes into a URL: IPv6 in brackets. */
export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
