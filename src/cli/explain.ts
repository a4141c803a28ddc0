import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { loadSpecFile } from '../spec/index.js';
import { compile, explain } from '../routing/index.js';
import type { RequestView } from '../routing/types.js';

interface ExplainOptions {
  config: string;
  url: string;
  header: string[];
  json?: boolean;
}

/** Build the request view explain() needs from a URL and `name: value` header strings. */
export function requestFromUrl(url: string, headerLines: string[]): RequestView {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`--url "${url}" is not an absolute URL (e.g. http://prod.example.com/path)`);
  }
  const headers: IncomingHttpHeaders = { host: parsed.host };
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`-H "${line}": expected "name: value"`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers[name];
    // Node joins repeated headers with ', ' (cookies with '; '); mirror that so rules see the same.
    headers[name] = prev === undefined ? value : `${String(prev)}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return {
    host: parsed.hostname.toLowerCase().replace(/^\[|\]$/g, ''),
    path: parsed.pathname,
    query: parsed.search.slice(1),
    headers,
  };
}

/** `graylane explain`: a dry run of mark + dispatch against a config file, all endpoints assumed up. */
export async function explainCommand(opts: ExplainOptions): Promise<void> {
  const spec = await loadSpecFile(opts.config);
  const snapshot = compile(spec);
  const req = requestFromUrl(opts.url, opts.header);
  const result = explain(snapshot, req, { isUp: () => true }, { random: Math.random, newVisitorId: randomUUID });
  if (opts.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  for (const [key, value] of Object.entries(result)) {
    if (value === undefined) continue;
    console.log(`${(key + ':').padEnd(16)}${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
  }
  if (result.route === null) process.exitCode = 2;
}
