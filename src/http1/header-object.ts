/**
 * A request's header fields as the lower-cased object Node's http.Server hands its handlers
 * (IncomingHttpHeaders), built from the parser's offsets. Routing (RequestView.headers) and the
 * upstream header rewrite (src/gateway/headers.ts) read this shape, so both engines give them
 * exactly the same input; the differential test holds the joining rules to Node's own
 * (IncomingMessage#_addHeaderLines):
 * - `set-cookie` is an array of every value;
 * - `cookie` values are joined with `; `;
 * - for the fields that may appear once (Node's list below) only the first is kept;
 * - every other repeated field is joined with `, `;
 * - a field named `__proto__` is not in it (Node's assignment drops it), so routing and the
 *   upstream never see it with either engine.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { latin1 } from './chars.js';
import { knownName, valueString } from './field-strings.js';
import type { Fields } from './fields.js';

/** Fields Node keeps only the first of (lib/_http_incoming.js matchKnownFields). */
export const FIRST_ONLY: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'referer',
  'host',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);

/** The header object of the fields of `buf` (offsets from the parser). */
export function headerObject(buf: Buffer, fields: Fields): IncomingHttpHeaders {
  // A null-prototype object, as Node's: a field named `__proto__` or `constructor` is just a field.
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (let i = 0; i < fields.count; i++) {
    // Common names and unchanged values of repeating fields cost no new string (field-strings.ts).
    const known = knownName(buf, fields.nameStart(i), fields.nameEnd(i));
    const name = known !== null ? known.lower : latin1(buf, fields.nameStart(i), fields.nameEnd(i)).toLowerCase();
    if (name === '__proto__') continue; // Node's object drops it (an assignment to __proto__); so do we
    const value = valueString(buf, fields.valueStart(i), fields.valueEnd(i), known);
    const seen = out[name];
    if (name === 'set-cookie') {
      if (seen === undefined) out[name] = [value];
      else (seen as string[]).push(value);
    } else if (seen === undefined) {
      out[name] = value;
    } else if (name === 'cookie') {
      out[name] = `${seen as string}; ${value}`;
    } else if (!FIRST_ONLY.has(name)) {
      out[name] = `${seen as string}, ${value}`;
    }
  }
  return out as IncomingHttpHeaders;
}

/**
 * The fields as Node's `rawHeaders`: names as sent, `[name, value, ...]` latin1 strings. Common
 * names and unchanged values of repeating fields cost no new string (field-strings.ts). The
 * upstream pool hands a response's fields to the gateway in this form.
 */
export function rawHeaders(buf: Buffer, fields: Fields): string[] {
  const out: string[] = new Array<string>(2 * fields.count);
  for (let i = 0; i < fields.count; i++) {
    const known = knownName(buf, fields.nameStart(i), fields.nameEnd(i));
    out[2 * i] = known !== null ? known.text : latin1(buf, fields.nameStart(i), fields.nameEnd(i));
    out[2 * i + 1] = valueString(buf, fields.valueStart(i), fields.valueEnd(i), known);
  }
  return out;
}
