/**
 * The structural half of validation: the published JSON Schema (schema/graylane.schema.json, the
 * same file editors use for completion) checked with ajv, and ajv's errors turned into path issues
 * with messages a person can act on.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';
import type { IssueCode } from './errors.js';
import { pointerToPath } from './paths.js';
import { didYouMean } from './suggest.js';
import type { PathIssue } from './yaml-source.js';

/** The JSON Schema file at the package root, seen from the compiled module (dist/src/spec/schema.js). */
export const SCHEMA_FILE = new URL('../../../schema/graylane.schema.json', import.meta.url);

let compiled: ValidateFunction | undefined;
let parsed: SchemaObject | undefined;

/** The schema document, read once. */
export function schemaDocument(): SchemaObject {
  parsed ??= JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as SchemaObject;
  return parsed;
}

/** Compiled on first use (tens of milliseconds), then shared by every later load and reload. */
function compiledSchema(): ValidateFunction {
  if (compiled) return compiled;
  const schema = schemaDocument();
  const ajv = new Ajv({
    allErrors: true,
    // parentSchema (for our errorMessage / errorCode annotations and the list of known keys) and data.
    verbose: true,
    // `type: [integer, string]` is how the schema says "a duration is 5000 or 5s".
    allowUnionTypes: true,
    // The oneOf branches are bare `required` lists by design.
    strictTypes: false,
    // `format` is an annotation for editors; regexes and URLs are checked in code with better messages.
    validateFormats: false,
  });
  ajv.addKeyword({ keyword: 'errorMessage', schemaType: ['string', 'object'] });
  ajv.addKeyword({ keyword: 'errorCode', schemaType: ['string', 'object'] });
  compiled = ajv.compile(schema);
  return compiled;
}

/** Checks the shape of the config data; returns one issue per problem (all of them). */
export function validateShape(data: unknown): PathIssue[] {
  const validate = compiledSchema();
  if (validate(data)) return [];
  const errors = (validate.errors ?? []).filter((e) => !isBranchDetail(e) && e.keyword !== 'propertyNames');

  // Unknown keys explain other errors at the same place: `{ lnae: beta }` is one typo, not also a
  // missing `lane`, and `{ contians: x }` need not also say "set exactly one of contains, prefix, regex".
  const unknownAt = new Map<string, string[]>();
  for (const e of errors) {
    if (e.keyword === 'additionalProperties') {
      const list = unknownAt.get(e.instancePath) ?? [];
      list.push(suggestionFor(e) ?? '');
      unknownAt.set(e.instancePath, list);
    }
  }
  const issues: PathIssue[] = [];
  for (const e of errors) {
    const suggestions = unknownAt.get(e.instancePath);
    if (suggestions && (e.keyword === 'oneOf' || e.keyword === 'anyOf')) continue;
    if (suggestions && e.keyword === 'required' && suggestions.includes(String(e.params.missingProperty))) continue;
    issues.push(toIssue(e, data));
  }
  return issues;
}

/** Errors inside a oneOf/anyOf branch: the combinator's own error says it better. */
function isBranchDetail(e: ErrorObject): boolean {
  return /\/(?:oneOf|anyOf|not)\/[^/]/.test(e.schemaPath);
}

function toIssue(e: ErrorObject, data: unknown): PathIssue {
  const path = pointerToPath(e.instancePath, data);
  const params = e.params as Record<string, unknown>;

  // Errors inside `propertyNames` are about a key of the mapping, not its value.
  if (e.propertyName !== undefined) {
    const message = customMessage(e) ?? defaultMessage(e);
    return { path: [...path, e.propertyName], code: 'bad-name', message: `key ${JSON.stringify(e.propertyName)} ${message}`, at: 'key' };
  }
  switch (e.keyword) {
    case 'required': {
      const key = String(params.missingProperty);
      return { path: [...path, key], code: 'missing-key', message: `missing required key ${JSON.stringify(key)}` };
    }
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      return { path: [...path, key], code: 'unknown-key', message: unknownKeyMessage(e, key), at: 'key' };
    }
    case 'dependencies':
      return {
        path: [...path, String(params.property)],
        code: 'missing-key',
        message: `${String(params.property)} needs ${String(params.deps).split(', ').join(' and ')} to be set too`,
        at: 'key',
      };
    case 'uniqueItems':
      return { path: [...path, Number(params.i)], code: 'invalid-value', message: `listed twice (same as item ${String(params.j)})` };
    default:
      return { path, code: codeFor(e), message: customMessage(e) ?? defaultMessage(e) };
  }
}

/** The schema's `errorCode` (for every keyword, or one per keyword), else one by keyword. */
function codeFor(e: ErrorObject): IssueCode {
  const annotated = annotation(e, 'errorCode');
  if (annotated !== undefined) return annotated as IssueCode;
  if (e.keyword === 'type') return 'wrong-type';
  if (/^(?:exclusiveM|m)(?:inimum|aximum)$/.test(e.keyword)) return 'out-of-range';
  return 'invalid-value';
}

/** The schema's own `errorMessage` (a string for every keyword, or one per keyword), with what was found. */
function customMessage(e: ErrorObject): string | undefined {
  const text = annotation(e, 'errorMessage');
  if (text === undefined) return undefined;
  const valueKeywords = ['type', 'pattern', 'const', 'enum', 'minimum', 'maximum'];
  return valueKeywords.includes(e.keyword) ? `${text}, got ${describe(e.data)}` : text;
}

/** An annotation of the failing schema object: a string applies to every keyword, an object maps keyword -> text. */
function annotation(e: ErrorObject, name: 'errorMessage' | 'errorCode'): string | undefined {
  const value = (e.parentSchema as SchemaObject | undefined)?.[name] as unknown;
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, e.keyword)) {
    return (value as Record<string, string>)[e.keyword];
  }
  return undefined;
}

function defaultMessage(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type':
      // A whole document that is one scalar is some other file (a token, a key): say what it is, never
      // quote it (the message reaches the log and /api/v1/config, which needs no token to read).
      if (e.instancePath === '' && typeof e.data === 'string') return `must be ${typeWords(p.type)}, got text that is not YAML key: value lines`;
      return `must be ${typeWords(p.type)}, got ${describe(e.data)}`;
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${describe(e.data)}`;
    case 'const':
      return `must be ${JSON.stringify(p.allowedValue)}, got ${describe(e.data)}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${String(p.comparison)} ${String(p.limit)}, got ${describe(e.data)}`;
    case 'minLength':
      return p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters long`;
    case 'maxLength':
      return `must be at most ${String(p.limit)} characters long`;
    case 'minItems':
      return `must list at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}`;
    case 'minProperties':
      return `must have at least ${String(p.limit)} entr${p.limit === 1 ? 'y' : 'ies'}`;
    case 'pattern':
      return `must match ${String(p.pattern)}, got ${describe(e.data)}`;
    default:
      return e.message ?? `fails ${e.keyword}`;
  }
}

function unknownKeyMessage(e: ErrorObject, key: string): string {
  const known = knownKeys(e);
  const hint = didYouMean(key, known);
  // JSON-quoted: a key that is a multi-line flow mapping (YAML allows complex keys) stays on the
  // one line an issue is; a plain key reads as before ("pathx").
  const quoted = JSON.stringify(key);
  if (hint !== '') return `unknown key ${quoted}${hint}`;
  return known.length > 0 && known.length <= 12 ? `unknown key ${quoted}; known keys: ${known.join(', ')}` : `unknown key ${quoted}`;
}

function suggestionFor(e: ErrorObject): string | undefined {
  const key = String((e.params as Record<string, unknown>).additionalProperty);
  const hint = didYouMean(key, knownKeys(e));
  return hint === '' ? undefined : hint.slice(' (did you mean '.length, -'?)'.length);
}

/** The keys the schema object that rejected a key does know (its `properties`). */
function knownKeys(e: ErrorObject): string[] {
  const props = (e.parentSchema as SchemaObject | undefined)?.properties as Record<string, unknown> | undefined;
  return props ? Object.keys(props) : [];
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  null: 'empty',
};

function typeWords(type: unknown): string {
  const list = Array.isArray(type) ? type : [type];
  return list.map((t) => TYPE_WORDS[String(t)] ?? String(t)).join(' or ');
}

/** What was found, briefly: `"5 sec"`, `-1`, `a list`. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  return String(value);
}

