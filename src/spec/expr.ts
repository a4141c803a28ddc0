/**
 * The condition language of analysis templates (`successCondition: result[0] < 0.3`): a small, safe
 * expression language, parsed once into an AST and evaluated many times. No `eval`, no `Function`,
 * no access to anything but the measurement value `result`.
 *
 * Grammar, loosest binding first:
 * ```
 *   or      := and ('||' and)*
 *   and     := compare ('&&' compare)*
 *   compare := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)?      -- not chained: a < b < c is an error
 *   sum     := product (('+' | '-') product)*
 *   product := unary (('*' | '/') unary)*
 *   unary   := ('!' | '-') unary | postfix
 *   postfix := primary ('.' name | '[' or ']')*
 *   primary := number | string | 'result' | 'true' | 'false' | 'null'
 *            | ('len' | 'isNaN' | 'abs') '(' or ')' | '(' or ')'
 * ```
 * Types are strict, so a typo fails loudly instead of quietly being false: `&&`, `||` and `!` take
 * booleans; `<` and friends take two numbers or two strings; arithmetic takes numbers; `==` / `!=`
 * compare numbers, strings, booleans and null (values of different types are unequal; lists and
 * objects cannot be compared). A missing field or an index out of range is an error, not `null`.
 * NaN compares like IEEE (`NaN < 1` and `NaN == NaN` are false): test it with `isNaN(result)`.
 *
 * Every failure, syntax or evaluation, is an ExprError carrying the 0-based offset of the culprit.
 */

/** Stable codes: a condition that does not parse (config time) or cannot be evaluated (measurement time). */
export type ExprErrorCode = 'EXPR_SYNTAX' | 'EXPR_EVAL';

export class ExprError extends Error {
  readonly code: ExprErrorCode;
  /** 0-based offset into the source of the token or operator at fault. */
  readonly position: number;

  constructor(code: ExprErrorCode, message: string, position: number) {
    super(`${message} (at column ${position + 1})`);
    this.name = 'ExprError';
    this.code = code;
    this.position = position;
  }
}

/** A JSON-like value: what `result` and every sub-expression evaluate to. */
export type ExprValue = number | string | boolean | null | readonly ExprValue[] | { readonly [key: string]: ExprValue };

type BinaryOp = '<' | '<=' | '>' | '>=' | '==' | '!=' | '+' | '-' | '*' | '/';
type FunctionName = 'len' | 'isNaN' | 'abs';

/** The parsed form. `pos` is where the node's operator or first token starts. */
export type ExprNode =
  | { type: 'literal'; value: number | string | boolean | null; pos: number }
  | { type: 'result'; pos: number }
  | { type: 'member'; object: ExprNode; name: string; pos: number }
  | { type: 'index'; object: ExprNode; index: ExprNode; pos: number }
  | { type: 'call'; fn: FunctionName; arg: ExprNode; pos: number }
  | { type: 'not' | 'negate'; operand: ExprNode; pos: number }
  | { type: 'and' | 'or'; left: ExprNode; right: ExprNode; pos: number }
  | { type: 'binary'; op: BinaryOp; left: ExprNode; right: ExprNode; pos: number };

/** A parsed expression: keep it and call evaluate() per measurement. */
export interface CompiledExpr {
  readonly source: string;
  readonly ast: ExprNode;
  /** Evaluates with `result` bound to the given value. Throws ExprError (EXPR_EVAL) only. */
  evaluate(result: unknown): ExprValue;
}

/** Longer sources and deeper nesting are refused, so hostile input cannot exhaust the stack. */
const MAX_SOURCE_LENGTH = 4096;
const MAX_DEPTH = 64;

/**
 * Parses a condition. Throws ExprError (EXPR_SYNTAX) naming the position of the first problem.
 *
 * @example compileExpr('result[0] < 0.3').evaluate([0.12]) // true
 */
export function compileExpr(source: string): CompiledExpr {
  if (typeof source !== 'string') throw new ExprError('EXPR_SYNTAX', 'expression must be a string', 0);
  if (source.length > MAX_SOURCE_LENGTH) {
    throw new ExprError('EXPR_SYNTAX', `expression longer than ${MAX_SOURCE_LENGTH} characters`, MAX_SOURCE_LENGTH);
  }
  const ast = new Parser(tokenize(source)).parseAll();
  return Object.freeze({ source, ast, evaluate: (result: unknown) => evaluate(ast, result) });
}

/**
 * Evaluates a condition that must give a boolean (`successCondition` / `failureCondition`).
 * Throws ExprError (EXPR_EVAL) when it gives anything else.
 */
export function evaluateCondition(expr: CompiledExpr, result: unknown): boolean {
  const value = expr.evaluate(result);
  if (typeof value !== 'boolean') {
    throw new ExprError('EXPR_EVAL', `condition gave ${describe(value)}, not true or false`, expr.ast.pos);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Tokens

type Token =
  | { kind: 'number'; value: number; pos: number }
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'name'; value: string; pos: number }
  | { kind: 'punct'; value: string; pos: number }
  | { kind: 'end'; pos: number };

const PUNCT_2 = new Set(['&&', '||', '==', '!=', '<=', '>=']);
const PUNCT_1 = new Set(['(', ')', '[', ']', '.', '!', '<', '>', '+', '-', '*', '/']);
const NUMBER = /(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/y;
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if ((c >= '0' && c <= '9') || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(src)!;
      tokens.push({ kind: 'number', value: Number(m[0]), pos: i });
      i += m[0].length;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      NAME.lastIndex = i;
      const m = NAME.exec(src)!;
      tokens.push({ kind: 'name', value: m[0], pos: i });
      i += m[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      const start = i;
      let value = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new ExprError('EXPR_SYNTAX', 'unterminated string', start);
        const d = src[i]!;
        if (d === c) break;
        if (d === '\\') {
          const e = src[i + 1];
          if (e === undefined) throw new ExprError('EXPR_SYNTAX', 'unterminated string', start);
          value += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          i += 2;
        } else {
          value += d;
          i++;
        }
      }
      i++;
      tokens.push({ kind: 'string', value, pos: start });
      continue;
    }
    const two = src.slice(i, i + 2);
    if (PUNCT_2.has(two)) {
      tokens.push({ kind: 'punct', value: two, pos: i });
      i += 2;
      continue;
    }
    if (PUNCT_1.has(c)) {
      tokens.push({ kind: 'punct', value: c, pos: i });
      i++;
      continue;
    }
    throw new ExprError('EXPR_SYNTAX', `unexpected character ${JSON.stringify(c)}`, i);
  }
  tokens.push({ kind: 'end', pos: src.length });
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Parser (recursive descent, one function per grammar rule)

const FUNCTIONS = new Set<string>(['len', 'isNaN', 'abs']);
const COMPARE = new Set(['<', '<=', '>', '>=', '==', '!=']);

class Parser {
  private i = 0;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  parseAll(): ExprNode {
    const node = this.or();
    const t = this.peek();
    if (t.kind !== 'end') throw new ExprError('EXPR_SYNTAX', `unexpected ${show(t)}`, t.pos);
    return node;
  }

  private peek(): Token {
    return this.tokens[this.i]!;
  }

  private next(): Token {
    return this.tokens[this.i++]!;
  }

  private isPunct(value: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.value === value;
  }

  private expect(value: string): void {
    const t = this.next();
    if (t.kind !== 'punct' || t.value !== value) {
      throw new ExprError('EXPR_SYNTAX', `expected '${value}' but found ${show(t)}`, t.pos);
    }
  }

  private enter(pos: number): void {
    if (++this.depth > MAX_DEPTH) throw new ExprError('EXPR_SYNTAX', `nested deeper than ${MAX_DEPTH}`, pos);
  }

  private or(): ExprNode {
    this.enter(this.peek().pos);
    let left = this.and();
    while (this.isPunct('||')) {
      const pos = this.next().pos;
      left = { type: 'or', left, right: this.and(), pos };
    }
    this.depth--;
    return left;
  }

  private and(): ExprNode {
    let left = this.compare();
    while (this.isPunct('&&')) {
      const pos = this.next().pos;
      left = { type: 'and', left, right: this.compare(), pos };
    }
    return left;
  }

  private compare(): ExprNode {
    const left = this.sum();
    const t = this.peek();
    if (t.kind !== 'punct' || !COMPARE.has(t.value)) return left;
    this.next();
    const node: ExprNode = { type: 'binary', op: t.value as BinaryOp, left, right: this.sum(), pos: t.pos };
    const after = this.peek();
    if (after.kind === 'punct' && COMPARE.has(after.value)) {
      throw new ExprError('EXPR_SYNTAX', `comparisons cannot be chained: use && between them`, after.pos);
    }
    return node;
  }

  private sum(): ExprNode {
    let left = this.product();
    while (this.isPunct('+') || this.isPunct('-')) {
      const t = this.next() as { value: string; pos: number };
      left = { type: 'binary', op: t.value as BinaryOp, left, right: this.product(), pos: t.pos };
    }
    return left;
  }

  private product(): ExprNode {
    let left = this.unary();
    while (this.isPunct('*') || this.isPunct('/')) {
      const t = this.next() as { value: string; pos: number };
      left = { type: 'binary', op: t.value as BinaryOp, left, right: this.unary(), pos: t.pos };
    }
    return left;
  }

  private unary(): ExprNode {
    if (this.isPunct('!') || this.isPunct('-')) {
      const t = this.next() as { value: string; pos: number };
      this.enter(t.pos);
      const operand = this.unary();
      this.depth--;
      return { type: t.value === '!' ? 'not' : 'negate', operand, pos: t.pos };
    }
    return this.postfix();
  }

  private postfix(): ExprNode {
    let node = this.primary();
    for (;;) {
      if (this.isPunct('.')) {
        const pos = this.next().pos;
        const name = this.next();
        if (name.kind !== 'name') throw new ExprError('EXPR_SYNTAX', `expected a field name after '.' but found ${show(name)}`, name.pos);
        node = { type: 'member', object: node, name: name.value, pos };
      } else if (this.isPunct('[')) {
        const pos = this.next().pos;
        const index = this.or();
        this.expect(']');
        node = { type: 'index', object: node, index, pos };
      } else {
        return node;
      }
    }
  }

  private primary(): ExprNode {
    const t = this.next();
    switch (t.kind) {
      case 'number':
      case 'string':
        return { type: 'literal', value: t.value, pos: t.pos };
      case 'name':
        if (t.value === 'result') return { type: 'result', pos: t.pos };
        if (t.value === 'true' || t.value === 'false') return { type: 'literal', value: t.value === 'true', pos: t.pos };
        if (t.value === 'null') return { type: 'literal', value: null, pos: t.pos };
        if (FUNCTIONS.has(t.value)) {
          this.expect('(');
          const arg = this.or();
          this.expect(')');
          return { type: 'call', fn: t.value as FunctionName, arg, pos: t.pos };
        }
        throw new ExprError(
          'EXPR_SYNTAX',
          `unknown name '${t.value}' (known: result, true, false, null, len(), isNaN(), abs())`,
          t.pos,
        );
      case 'punct':
        if (t.value === '(') {
          const node = this.or();
          this.expect(')');
          return node;
        }
        throw new ExprError('EXPR_SYNTAX', `unexpected ${show(t)}`, t.pos);
      case 'end':
        throw new ExprError('EXPR_SYNTAX', 'unexpected end of expression', t.pos);
    }
  }
}

function show(t: Token): string {
  switch (t.kind) {
    case 'end':
      return 'end of expression';
    case 'string':
      return `string ${JSON.stringify(t.value)}`;
    case 'number':
      return `number ${t.value}`;
    default:
      return `'${t.value}'`;
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

function evaluate(node: ExprNode, result: unknown): ExprValue {
  switch (node.type) {
    case 'literal':
      return node.value;
    case 'result':
      return toValue(result, node.pos);
    case 'member': {
      const object = evaluate(node.object, result);
      if (!isRecord(object)) throw new ExprError('EXPR_EVAL', `cannot read field '${node.name}' of ${describe(object)}`, node.pos);
      if (!Object.hasOwn(object, node.name)) throw new ExprError('EXPR_EVAL', `no field '${node.name}'`, node.pos);
      return toValue(object[node.name], node.pos);
    }
    case 'index': {
      const object = evaluate(node.object, result);
      const index = evaluate(node.index, result);
      if (Array.isArray(object)) {
        if (typeof index !== 'number' || !Number.isInteger(index)) {
          throw new ExprError('EXPR_EVAL', `list index must be a whole number, not ${describe(index)}`, node.pos);
        }
        if (index < 0 || index >= object.length) {
          throw new ExprError('EXPR_EVAL', `index ${index} out of range (length ${object.length})`, node.pos);
        }
        return toValue(object[index], node.pos);
      }
      if (isRecord(object) && typeof index === 'string') {
        if (!Object.hasOwn(object, index)) throw new ExprError('EXPR_EVAL', `no field ${JSON.stringify(index)}`, node.pos);
        return toValue(object[index], node.pos);
      }
      throw new ExprError('EXPR_EVAL', `cannot index ${describe(object)} with ${describe(index)}`, node.pos);
    }
    case 'call': {
      const arg = evaluate(node.arg, result);
      switch (node.fn) {
        case 'len':
          if (typeof arg === 'string' || Array.isArray(arg)) return arg.length;
          if (isRecord(arg)) return Object.keys(arg).length;
          break;
        case 'isNaN':
          if (typeof arg === 'number') return Number.isNaN(arg);
          break;
        case 'abs':
          if (typeof arg === 'number') return Math.abs(arg);
          break;
      }
      throw new ExprError('EXPR_EVAL', `${node.fn}() cannot take ${describe(arg)}`, node.pos);
    }
    case 'not':
      return !bool(evaluate(node.operand, result), '!', node.pos);
    case 'negate': {
      const v = evaluate(node.operand, result);
      if (typeof v !== 'number') throw new ExprError('EXPR_EVAL', `'-' needs a number, not ${describe(v)}`, node.pos);
      return -v;
    }
    case 'and':
      return bool(evaluate(node.left, result), '&&', node.pos) && bool(evaluate(node.right, result), '&&', node.pos);
    case 'or':
      return bool(evaluate(node.left, result), '||', node.pos) || bool(evaluate(node.right, result), '||', node.pos);
    case 'binary':
      return binary(node.op, evaluate(node.left, result), evaluate(node.right, result), node.pos);
  }
}

function binary(op: BinaryOp, l: ExprValue, r: ExprValue, pos: number): ExprValue {
  if (op === '==' || op === '!=') {
    if (isComposite(l) || isComposite(r)) {
      throw new ExprError('EXPR_EVAL', `'${op}' cannot compare ${describe(l)} with ${describe(r)}`, pos);
    }
    return op === '==' ? l === r : l !== r;
  }
  if (op === '<' || op === '<=' || op === '>' || op === '>=') {
    const ok = (typeof l === 'number' && typeof r === 'number') || (typeof l === 'string' && typeof r === 'string');
    if (!ok) throw new ExprError('EXPR_EVAL', `'${op}' cannot compare ${describe(l)} with ${describe(r)}`, pos);
    const a = l as number | string;
    const b = r as number | string;
    return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
  }
  if (typeof l !== 'number' || typeof r !== 'number') {
    throw new ExprError('EXPR_EVAL', `'${op}' needs two numbers, not ${describe(l)} and ${describe(r)}`, pos);
  }
  return op === '+' ? l + r : op === '-' ? l - r : op === '*' ? l * r : l / r;
}

function bool(v: ExprValue, op: string, pos: number): boolean {
  if (typeof v !== 'boolean') throw new ExprError('EXPR_EVAL', `'${op}' needs true or false, not ${describe(v)}`, pos);
  return v;
}

/** Narrows what a provider handed us; `undefined` and functions are not values of the language. */
function toValue(v: unknown, pos: number): ExprValue {
  if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'object') return v as ExprValue;
  throw new ExprError('EXPR_EVAL', `value is ${v === undefined ? 'missing' : `a ${typeof v}`}`, pos);
}

function isRecord(v: ExprValue): v is { readonly [key: string]: ExprValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isComposite(v: ExprValue): boolean {
  return typeof v === 'object' && v !== null;
}

function describe(v: ExprValue): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}...` : v)}`;
  return `${typeof v === 'number' ? 'the number' : ''} ${String(v)}`.trim();
}
