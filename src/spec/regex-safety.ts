/**
 * Regular expressions from the config run on every request against client-controlled input, in
 * JavaScript's backtracking engine. A pattern like `(a+)+$` takes exponential time on `aaaa…!`, so
 * one request could stall the gateway (ReDoS). The loader therefore accepts only patterns that
 * 1. compile with `new RegExp(pattern)`,
 * 2. have no nested quantifier: no repeated group (`*`, `+`, `{n,}`, `{n,m}` with m > 1) that itself
 *    contains a repetition, directly or deeper (`(a+)+`, `(a*)*`, `(\d+\.)*`, `((ab)*c)+`), which is the
 *    star-height rule of safe-regex and the shape of nearly every catastrophic pattern seen in practice,
 * 3. use no backreferences (`\1`, `\k<name>`: matching with them is NP-hard) and no lookaround
 *    (`(?=`, `(?!`, `(?<=`, `(?<!`), which keeps every accepted pattern expressible in linear-time
 *    engines (RE2, Envoy's safe_regex) that importers and other gateways use.
 * This is a conservative screen, not a proof: overlapping alternatives under one repetition
 * (`(a|a)*`) are not detected.
 */

export interface RegexProblem {
  code: 'bad-regex' | 'unsafe-regex';
  message: string;
}

/** Undefined when the pattern is acceptable; otherwise why not. */
export function checkRegex(pattern: string): RegexProblem | undefined {
  try {
    new RegExp(pattern);
  } catch (err) {
    const reason = err instanceof Error ? err.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '') : String(err);
    return { code: 'bad-regex', message: `not a valid regular expression: ${reason}` };
  }
  const hazard = findHazard(pattern);
  return hazard === undefined ? undefined : { code: 'unsafe-regex', message: hazard };
}

interface Group {
  start: number;
  /** The group contains a repeating quantifier somewhere inside. */
  repeats: boolean;
}

/** Scans a pattern that already compiles; returns a message for the first hazard found. */
function findHazard(p: string): string | undefined {
  const stack: Group[] = [{ start: 0, repeats: false }];
  let i = 0;
  while (i < p.length) {
    const c = p[i];
    if (c === '\\') {
      const next = p[i + 1] ?? '';
      if ((next >= '1' && next <= '9') || (next === 'k' && p[i + 2] === '<')) {
        const end = next === 'k' ? Math.max(p.indexOf('>', i) + 1, i + 3) : i + 2;
        return `backreference ${p.slice(i, end)} is not supported (it makes matching super-linear; see docs/config.md)`;
      }
      i += 2;
    } else if (c === '[') {
      i = skipClass(p, i);
    } else if (c === '(') {
      const lookaround = /^\(\?(?:=|!|<=|<!)/.exec(p.slice(i, i + 4));
      if (lookaround) return `lookaround ${lookaround[0]} is not supported (see docs/config.md)`;
      stack.push({ start: i, repeats: false });
      i += groupPrefixLength(p, i);
    } else if (c === ')') {
      const group = stack.length > 1 ? stack.pop()! : { start: 0, repeats: false };
      i += 1;
      const q = quantifierAt(p, i);
      if (q?.repeats && group.repeats) {
        const shown = p.slice(group.start, i + q.length);
        return (
          `nested quantifier ${shown.length > 40 ? `${shown.slice(0, 37)}...` : shown}: a repeated group that itself repeats ` +
          'can take exponential time on some inputs (catastrophic backtracking); repeat either the group or its content, not both'
        );
      }
      if (q) i += q.length;
      stack[stack.length - 1]!.repeats ||= group.repeats || (q?.repeats ?? false);
    } else {
      const q = quantifierAt(p, i);
      if (q) {
        if (q.repeats) stack[stack.length - 1]!.repeats = true;
        i += q.length;
      } else {
        i += 1;
      }
    }
  }
  return undefined;
}

/** Length of `(`, `(?:` or `(?<name>`. */
function groupPrefixLength(p: string, i: number): number {
  if (p[i + 1] !== '?') return 1;
  if (p[i + 2] === '<') return p.indexOf('>', i) + 1 - i;
  return 3;
}

/** Index just after the character class starting at `i` (`[` ... `]`; a `]` right after `[` or `[^` closes it in JS). */
function skipClass(p: string, i: number): number {
  let j = i + 1;
  if (p[j] === '^') j++;
  while (j < p.length && p[j] !== ']') j += p[j] === '\\' ? 2 : 1;
  return j + 1;
}

const BRACES = /^\{([0-9]+)(,([0-9]*))?\}/;

/** A quantifier at `i` (with its lazy `?`), and whether it can repeat more than once. */
function quantifierAt(p: string, i: number): { length: number; repeats: boolean } | undefined {
  const c = p[i];
  let length: number;
  let repeats: boolean;
  if (c === '*' || c === '+') {
    length = 1;
    repeats = true;
  } else if (c === '?') {
    length = 1;
    repeats = false;
  } else if (c === '{') {
    const m = BRACES.exec(p.slice(i, i + 24));
    if (!m) return undefined; // a literal `{` outside unicode mode
    const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
    length = m[0].length;
    repeats = max > 1;
  } else {
    return undefined;
  }
  if (p[i + length] === '?') length += 1; // lazy
  return { length, repeats };
}
