/**
 * Traefik's router rule language (`Host(\`a.com\`) && (PathPrefix(\`/api\`) || Path(\`/x\`))`),
 * v2 and v3 matchers: parsed, turned into a disjunction of conjunctions, and each conjunction read as
 * what a graylane route can match (one host, one path or path prefix) plus conditions a graylane rule
 * can test (one header, one query parameter, one path regex). Anything else is named as unsupported.
 *
 * Grammar: `or := and ('||' and)*`, `and := unary ('&&' unary)*`,
 * `unary := '!' unary | '(' or ')' | Name '(' string (',' string)* ')'`, strings in backticks or
 * double quotes.
 */

type Node =
  | { type: 'matcher'; name: string; args: string[] }
  | { type: 'and' | 'or'; left: Node; right: Node }
  | { type: 'not'; operand: Node };

interface Literal {
  name: string;
  args: string[];
  negated: boolean;
}

/** A condition a graylane rule can test, from a Header/Query/PathRegexp matcher. */
export interface RuleCondition {
  kind: 'header' | 'query' | 'path';
  /** Header or query parameter name. */
  name: string;
  equals?: string;
  pattern?: string;
  present?: true;
}

/** One alternative of a rule: what its route matches and the conditions on top. */
export interface RuleAlternative {
  host?: string;
  path?: string;
  pathPrefix?: string;
  conditions: RuleCondition[];
  /** Matchers graylane cannot express, as written (`Method(GET)`, `!Host(a)`). */
  unsupported: string[];
}

export class RuleSyntaxError extends Error {
  constructor(message: string, readonly position: number) {
    super(`${message} (at character ${position + 1})`);
    this.name = 'RuleSyntaxError';
  }
}

/** More alternatives than this (from `||` everywhere) is not a config anybody means to import. */
const MAX_ALTERNATIVES = 64;

/**
 * Reads a rule into its alternatives.
 *
 * @throws RuleSyntaxError for a rule that does not parse
 * @example
 * parseRule('Host(`a.com`) && PathPrefix(`/api`)')
 * // [{ host: 'a.com', pathPrefix: '/api', conditions: [], unsupported: [] }]
 */
export function parseRule(rule: string): RuleAlternative[] {
  const parser = new Parser(rule);
  const node = parser.parse();
  return dnf(node, false).map(interpret);
}

class Parser {
  #pos = 0;

  constructor(readonly src: string) {}

  parse(): Node {
    const node = this.or();
    this.space();
    if (this.#pos < this.src.length) throw new RuleSyntaxError(`unexpected ${JSON.stringify(this.src[this.#pos])}`, this.#pos);
    return node;
  }

  private or(): Node {
    let left = this.and();
    while (this.eat('||')) left = { type: 'or', left, right: this.and() };
    return left;
  }

  private and(): Node {
    let left = this.unary();
    while (this.eat('&&')) left = { type: 'and', left, right: this.unary() };
    return left;
  }

  private unary(): Node {
    if (this.eat('!')) return { type: 'not', operand: this.unary() };
    if (this.eat('(')) {
      const inner = this.or();
      this.expect(')');
      return inner;
    }
    this.space();
    const start = this.#pos;
    const m = /^[A-Za-z][A-Za-z0-9]*/.exec(this.src.slice(start));
    if (!m) throw new RuleSyntaxError('expected a matcher such as Host(`example.com`)', start);
    this.#pos += m[0].length;
    this.expect('(');
    const args: string[] = [];
    if (!this.eat(')')) {
      do args.push(this.string());
      while (this.eat(','));
      this.expect(')');
    }
    return { type: 'matcher', name: m[0], args };
  }

  private string(): string {
    this.space();
    const quote = this.src[this.#pos];
    if (quote !== '`' && quote !== '"') throw new RuleSyntaxError('expected a string in backticks or double quotes', this.#pos);
    const end = this.src.indexOf(quote, this.#pos + 1);
    if (end < 0) throw new RuleSyntaxError(`unterminated string`, this.#pos);
    const value = this.src.slice(this.#pos + 1, end);
    this.#pos = end + 1;
    return value;
  }

  private space(): void {
    while (this.#pos < this.src.length && /\s/.test(this.src[this.#pos]!)) this.#pos++;
  }

  private eat(token: string): boolean {
    this.space();
    if (!this.src.startsWith(token, this.#pos)) return false;
    this.#pos += token.length;
    return true;
  }

  private expect(token: string): void {
    if (!this.eat(token)) throw new RuleSyntaxError(`expected ${JSON.stringify(token)}`, this.#pos);
  }
}

/** Matchers whose several arguments are alternatives (v2: `Host(\`a\`, \`b\`)`). */
const MULTI_VALUE = new Set(['host', 'hostheader', 'path', 'pathprefix']);

/** Disjunctive normal form, negations pushed down to the matchers (De Morgan). */
function dnf(node: Node, negated: boolean): Literal[][] {
  switch (node.type) {
    case 'matcher': {
      const lower = node.name.toLowerCase();
      if (MULTI_VALUE.has(lower) && node.args.length > 1) {
        const alternatives: Node = node.args
          .map((a): Node => ({ type: 'matcher', name: node.name, args: [a] }))
          .reduce((left, right) => ({ type: 'or', left, right }));
        return dnf(alternatives, negated);
      }
      return [[{ name: node.name, args: node.args, negated }]];
    }
    case 'not':
      return dnf(node.operand, !negated);
    case 'and':
    case 'or': {
      const left = dnf(node.left, negated);
      const right = dnf(node.right, negated);
      // `a && b` stays a product; negated it is `!a || !b`, a union (and `or` the other way round).
      if ((node.type === 'or') !== negated) return cap([...left, ...right]);
      return cap(left.flatMap((l) => right.map((r) => [...l, ...r])));
    }
  }
}

function cap(alternatives: Literal[][]): Literal[][] {
  if (alternatives.length > MAX_ALTERNATIVES) throw new RuleSyntaxError(`more than ${MAX_ALTERNATIVES} alternatives`, 0);
  return alternatives;
}

function interpret(conjunction: Literal[]): RuleAlternative {
  const alt: RuleAlternative = { conditions: [], unsupported: [] };
  for (const lit of conjunction) {
    const written = `${lit.negated ? '!' : ''}${lit.name}(${lit.args.map((a) => `\`${a}\``).join(', ')})`;
    if (!apply(alt, lit)) alt.unsupported.push(written);
  }
  return alt;
}

/** Adds one matcher to the alternative; false when graylane cannot express it. */
function apply(alt: RuleAlternative, lit: Literal): boolean {
  if (lit.negated) return false;
  const [a, b] = lit.args;
  switch (lit.name.toLowerCase()) {
    case 'host':
    case 'hostheader': {
      if (a === undefined || lit.args.length !== 1 || a.includes('{')) return false;
      const host = a.toLowerCase();
      if (alt.host !== undefined && alt.host !== host) return false;
      alt.host = host;
      return true;
    }
    case 'path':
    case 'pathprefix': {
      if (a === undefined || lit.args.length !== 1 || a.includes('{') || !a.startsWith('/')) return false;
      if (alt.path !== undefined || alt.pathPrefix !== undefined) return false;
      if (lit.name.toLowerCase() === 'path') alt.path = a;
      else alt.pathPrefix = a;
      return true;
    }
    case 'pathregexp':
      if (a === undefined || lit.args.length !== 1) return false;
      alt.conditions.push({ kind: 'path', name: '', pattern: a });
      return true;
    case 'header':
    case 'headers':
      if (a === undefined || b === undefined || lit.args.length !== 2) return false;
      alt.conditions.push({ kind: 'header', name: a.toLowerCase(), equals: b });
      return true;
    case 'headerregexp':
    case 'headersregexp':
      if (a === undefined || b === undefined || lit.args.length !== 2) return false;
      alt.conditions.push({ kind: 'header', name: a.toLowerCase(), pattern: b });
      return true;
    case 'query': {
      // v3: Query(`k`, `v`) or Query(`k`); v2: Query(`k=v`, ...) with every pair required.
      if (lit.args.length === 2 && a !== undefined && !a.includes('=')) {
        alt.conditions.push({ kind: 'query', name: a, equals: b! });
        return true;
      }
      for (const arg of lit.args) {
        const eq = arg.indexOf('=');
        if (eq === 0) return false;
        alt.conditions.push(eq < 0 ? { kind: 'query', name: arg, present: true } : { kind: 'query', name: arg.slice(0, eq), equals: arg.slice(eq + 1) });
      }
      return lit.args.length > 0;
    }
    case 'queryregexp':
      if (a === undefined || b === undefined || lit.args.length !== 2) return false;
      alt.conditions.push({ kind: 'query', name: a, pattern: b });
      return true;
    default:
      return false;
  }
}
