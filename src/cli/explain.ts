import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { loadSpecFile } from '../spec/index.js';
import { compile, explain, type Explanation } from '../routing/index.js';
import type { RequestView } from '../routing/types.js';
import { normalizeTarget } from '../routing/path.js';
import { requestView } from '../gateway/request-view.js';
import type { ReleaseSpec } from '../spec/release-model.js';
import { ObjectHeaders } from '../routing/request-values.js';

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
  // The gateway's own normalisation and request view, so explain matches what the gateway matches.
  const target = normalizeTarget(parsed.pathname + parsed.search);
  if (typeof target !== 'string') throw new Error(`--url "${url}": ${target.reason} (the gateway answers 400)`);
  // The host comes from the URL, as before, even when -H names another.
  return { ...requestView(target, { host: parsed.host }), headers: new ObjectHeaders(headers) };
}

/** `graylane explain`: a dry run of mark + dispatch against a config file, all endpoints assumed up. */
export async function explainCommand(opts: ExplainOptions): Promise<void> {
  const spec = await loadSpecFile(opts.config);
  const snapshot = compile(spec);
  const req = requestFromUrl(opts.url, opts.header);
  const result = explain(snapshot, req, { isUp: () => true }, { random: Math.random, newVisitorId: randomUUID });
  const note = releaseNote(spec.releases ?? [], result.route);
  if (opts.json) {
    console.log(JSON.stringify(result, null, 2));
    if (note !== null) console.error(`note: ${note}`); // stdout stays the explanation alone
    return;
  }
  console.log(formatExplanation(result));
  if (note !== null) console.log(`${'note:'.padEnd(16)}${note}`);
  if (result.route === null) process.exitCode = 2;
}

/**
 * A release's share of users lives in the running gateway's status (its current step), not in the
 * config: a dry run on the file alone cannot say whether this user is in the release's lane, and
 * would otherwise read as "no rule marked it". Says so when `route` is a release's entry.
 */
export function releaseNote(releases: readonly Pick<ReleaseSpec, 'name' | 'lane' | 'entry'>[], route: string | null): string | null {
  const r = releases.find((x) => x.entry.route === route);
  if (r === undefined) return null;
  return (
    `route ${route} is the entry of release ${r.name} (lane ${r.lane}): the release's share of users is in the ` +
    `running gateway's status, not in this file, so it is not applied here; ask the gateway: ` +
    `graylane release get ${r.name}, or POST /api/v1/explain on its admin API`
  );
}

const INDENT = ' '.repeat(16);

/**
 * The explanation as aligned `key: value` lines; the steps marking checked as an indented list, one
 * line per step and one per condition it ran (what was read, the version or bucket compared).
 */
export function formatExplanation(result: Explanation): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(result)) {
    if (value === undefined || key === 'checks' || key === 'bucket') continue;
    lines.push(`${(key + ':').padEnd(16)}${typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)}`);
  }
  if (result.bucket !== undefined) lines.push(`${'bucket:'.padEnd(16)}${result.bucket.value} of 0..9999 (${result.bucket.from})`);
  (result.checks ?? []).forEach((step, i) => {
    lines.push(`${(i === 0 ? 'checked:' : '').padEnd(16)}${step.step} -> lane ${step.lane}: ${step.matched ? 'marked' : 'no'}`);
    for (const c of step.checks) {
      lines.push(`${INDENT}  ${c.holds ? 'yes' : 'no '}  ${c.condition}${c.detail !== undefined ? ` (${c.detail})` : ''}`);
    }
  });
  return lines.join('\n');
}
