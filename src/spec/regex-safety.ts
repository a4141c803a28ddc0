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
 * 4. have no ambiguous repetition: a repeated group must not be able to match the same text in two
 *    ways, which is what `(a|a)*`, `^(\w|\d)+$`, `(a|ab)*`, `((a|a)b)*` and `(a?a)+` have in common.
 *    Checked conservatively on first characters: alternatives of (or under) a repeated group must
 *    start with different characters, and an optional part must not start like what follows it.
 *    Character classes are compared when they are plain (`[a-f]`, `\d`, `\w`, `\s`); anything
 *    else (`.`, `[^...]`, `\D`...) is taken to overlap.
 * This is a conservative screen, not a proof. It does not bound polynomial backtracking
 * (`.*a.*a.*a$` is O(n^4) on a string of `a`s); request limits (`limits.maxUrlBytes`,
 * `limits.maxHeaderBytes`) bound the n such a pattern can be given.
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

/**
 * The characters an atom can start with: code-point ranges, or `null` for "could be anything"
 * (`.`, negated classes, groups that may be empty...). Only used to decide whether two ways of
 * matching can start on the same character, so an over-approximation is always safe.
 */
type FirstSet = readonly (readonly [number, number])[] | null;

const DIGIT: FirstSet = [[48, 57]];
const WORD: FirstSet = [[48, 57], [65, 90], [95, 95], [97, 122]];
const SPACE: FirstSet = [[9, 13], [32, 32], [160, 160], [5760, 5760], [8192, 8202], [8232, 8233], [8239, 8239], [8287, 8287], [12288, 12288], [65279, 65279]];
const CONTROL_ESCAPES: Record<string, number> = { n: 10, r: 13, t: 9, f: 12, v: 11 };

function overlaps(a: FirstSet, b: FirstSet): boolean {
  if (a === null || b === null) return true;
  return a.some(([lo, hi]) => b.some(([lo2, hi2]) => lo <= hi2 && lo2 <= hi));
}

function union(a: FirstSet | undefined, b: FirstSet): FirstSet {
  if (a === undefined) return b;
  return a === null || b === null ? null : [...a, ...b];
}

interface Group {
  start: number;
  /** The group contains a repeating quantifier somewhere inside. */
  repeats: boolean;
  /** Something inside can match one string in two ways (overlapping alternatives, an optional part overlapping what follows). */
  ambiguous: boolean;
  /** First sets of the finished alternatives. */
  alternatives: FirstSet[];
  /** First set of the alternative being read; undefined until its first atom. */
  first: FirstSet | undefined;
  /** Optional atoms not yet compared with what follows them. */
  pending: FirstSet | undefined;
  /** Optional atoms that ended an alternative: compared with the group's own start when it repeats. */
  trailing: FirstSet | undefined;
}

function newGroup(start: number): Group {
  return { start, repeats: false, ambiguous: false, alternatives: [], first: undefined, pending: undefined, trailing: undefined };
}

/** One atom of the current alternative: `set` is what it starts with; `optional` when it may match nothing. */
function addAtom(g: Group, set: FirstSet, optional: boolean): void {
  if (g.first === undefined) g.first = optional ? null : set;
  if (g.pending !== undefined && overlaps(g.pending, set)) g.ambiguous = true;
  g.pending = optional ? union(g.pending, set) : undefined;
}

function endAlternative(g: Group): void {
  g.alternatives.push(g.first === undefined ? null : g.first);
  if (g.pending !== undefined) g.trailing = union(g.trailing, g.pending);
  g.first = undefined;
  g.pending = undefined;
}

/** Scans a pattern that already compiles; returns a message for the first hazard found. */
function findHazard(p: string): string | undefined {
  const stack: Group[] = [newGroup(0)];
  const top = () => stack[stack.length - 1]!;
  let i = 0;
  while (i < p.length) {
    const c = p[i]!;
    let set: FirstSet;
    const atomStart = i;
    if (c === '\\') {
      const next = p[i + 1] ?? '';
      if ((next >= '1' && next <= '9') || (next === 'k' && p[i + 2] === '<')) {
        const end = next === 'k' ? Math.max(p.indexOf('>', i) + 1, i + 3) : i + 2;
        return `backreference ${p.slice(i, end)} is not supported (it makes matching super-linear; see docs/config.md)`;
      }
      set = next === 'd' ? DIGIT : next === 'w' ? WORD : next === 's' ? SPACE : escapeSet(next);
      i += 2;
    } else if (c === '[') {
      i = skipClass(p, i);
      set = classSet(p.slice(atomStart + 1, i - 1));
    } else if (c === '(') {
      const lookaround = /^\(\?(?:=|!|<=|<!)/.exec(p.slice(i, i + 4));
      if (lookaround) return `lookaround ${lookaround[0]} is not supported (see docs/config.md)`;
      stack.push(newGroup(i));
      i += groupPrefixLength(p, i);
      continue;
    } else if (c === '|') {
      endAlternative(top());
      i += 1;
      continue;
    } else if (c === ')') {
      const group = stack.length > 1 ? stack.pop()! : newGroup(0);
      endAlternative(group);
      const alts = group.alternatives;
      const groupFirst = alts.reduce<FirstSet | undefined>((acc, a) => union(acc, a), undefined) ?? null;
      const overlapping = alts.some((a, k) => alts.slice(k + 1).some((b) => overlaps(a, b)));
      i += 1;
      const q = quantifierAt(p, i);
      const shown = () => {
        const text = p.slice(group.start, i + (q?.length ?? 0));
        return text.length > 40 ? `${text.slice(0, 37)}...` : text;
      };
      if (q?.repeats && group.repeats) {
        return (
          `nested quantifier ${shown()}: a repeated group that itself repeats ` +
          'can take exponential time on some inputs (catastrophic backtracking); repeat either the group or its content, not both'
        );
      }
      if (q?.repeats && (group.ambiguous || overlapping || (group.trailing !== undefined && overlaps(group.trailing, groupFirst)))) {
        return (
          `ambiguous repetition ${shown()}: the repeated group can match the same text in more than one way ` +
          '(alternatives or an optional part that can start with the same character), which can take exponential time ' +
          'on some inputs (catastrophic backtracking); make the alternatives start differently or use a character class'
        );
      }
      if (q) i += q.length;
      const parent = top();
      parent.repeats ||= group.repeats || (q?.repeats ?? false);
      parent.ambiguous ||= group.ambiguous || overlapping;
      addAtom(parent, groupFirst, q?.optional ?? false);
      if (group.trailing !== undefined) parent.pending = union(parent.pending, group.trailing);
      continue;
    } else {
      // `.`, `^` and `$` may be anything as far as this check goes.
      set = c === '.' || c === '^' || c === '$' ? null : [[p.codePointAt(i)!, p.codePointAt(i)!]];
      i += c.length;
    }
    const q = quantifierAt(p, i);
    if (q) {
      if (q.repeats) top().repeats = true;
      i += q.length;
    }
    addAtom(top(), set, q?.optional ?? false);
  }
  return undefined;
}

/** The first set of an escape other than \d, \w and \s: a control character, a literal, or anything. */
function escapeSet(next: string): FirstSet {
  const control = CONTROL_ESCAPES[next];
  if (control !== undefined) return [[control, control]];
  // \D \W \S \b \B \p{} \x \u \c \0: not worth decoding here.
  if (/[A-Za-z0-9]/.test(next)) return null;
  const code = next.codePointAt(0) ?? 0;
  return [[code, code]];
}

/** The first set of a character class body (without the brackets): plain characters and ranges only. */
function classSet(body: string): FirstSet {
  if (body.startsWith('^') || body.includes('\\')) return null;
  const ranges: [number, number][] = [];
  for (let j = 0; j < body.length; j++) {
    const lo = body.charCodeAt(j);
    if (body[j + 1] === '-' && j + 2 < body.length) {
      ranges.push([lo, body.charCodeAt(j + 2)]);
      j += 2;
    } else {
      ranges.push([lo, lo]);
    }
  }
  return ranges;
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

/** A quantifier at `i` (with its lazy `?`): whether it can repeat more than once, and whether it allows zero. */
function quantifierAt(p: string, i: number): { length: number; repeats: boolean; optional: boolean } | undefined {
  const c = p[i];
  let length: number;
  let repeats: boolean;
  let optional: boolean;
  if (c === '*' || c === '+') {
    length = 1;
    repeats = true;
    optional = c === '*';
  } else if (c === '?') {
    length = 1;
    repeats = false;
    optional = true;
  } else if (c === '{') {
    const m = BRACES.exec(p.slice(i, i + 24));
    if (!m) return undefined; // a literal `{` outside unicode mode
    const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
    length = m[0].length;
    repeats = max > 1;
    optional = Number(m[1]) === 0;
  } else {
    return undefined;
  }
  if (p[i + length] === '?') length += 1; // lazy
  return { length, repeats, optional };
}
