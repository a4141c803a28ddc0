import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { ISSUE_CODES } from './errors.js';
import { checkRegex } from './regex-safety.js';
import { SCHEMA_FILE } from './schema.js';

/** The schema is a published artifact: editors read it for completion, hover docs and checks. */
const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
const definitions = schema.definitions as Record<string, Record<string, unknown>>;

/** Every schema object in the file, with a readable location. */
function* schemaObjects(node: unknown, where: string): Generator<[Record<string, unknown>, string]> {
  if (typeof node !== 'object' || node === null) return;
  if (Array.isArray(node)) {
    for (const [i, item] of node.entries()) yield* schemaObjects(item, `${where}[${i}]`);
    return;
  }
  const obj = node as Record<string, unknown>;
  yield [obj, where];
  for (const key of ['properties', 'definitions']) {
    for (const [name, sub] of Object.entries((obj[key] as Record<string, unknown>) ?? {})) yield* schemaObjects(sub, `${where}.${name}`);
  }
  for (const key of ['items', 'additionalProperties', 'propertyNames', 'not', 'allOf', 'anyOf', 'oneOf']) {
    if (typeof obj[key] === 'object') yield* schemaObjects(obj[key], `${where}/${key}`);
  }
}

function resolved(obj: Record<string, unknown>): Record<string, unknown> {
  const ref = obj.$ref;
  return typeof ref === 'string' ? definitions[ref.replace('#/definitions/', '')]! : obj;
}

test('the schema is draft-07 with an $id, a title and a description, and is itself valid', () => {
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  assert.match(String(schema.$id), /^https:\/\/.+\/graylane\.schema\.json$/);
  assert.ok(schema.title && schema.description);
  const ajv = new Ajv({ strict: false });
  assert.equal(ajv.validateSchema(schema), true, ajv.errorsText());
});

test('every key has a description (for editor hover), directly or on its definition', () => {
  for (const [obj, where] of schemaObjects(schema, '#')) {
    for (const [name, prop] of Object.entries((obj.properties as Record<string, Record<string, unknown>>) ?? {})) {
      const description = prop.description ?? resolved(prop).description;
      assert.ok(typeof description === 'string' && description.length > 0, `${where}.${name} has no description`);
    }
  }
});

test('every pattern and combinator has its own error message, and every pattern is safe by our own rule', () => {
  for (const [obj, where] of schemaObjects(schema, '#')) {
    const message = obj.errorMessage as string | Record<string, string> | undefined;
    const has = (keyword: string) => typeof message === 'string' || (typeof message === 'object' && keyword in message);
    if (typeof obj.pattern === 'string') {
      assert.ok(has('pattern'), `${where}: pattern without errorMessage`);
      assert.equal(checkRegex(obj.pattern), undefined, `${where}: ${obj.pattern}`);
      new RegExp(obj.pattern, 'u'); // ajv compiles patterns with the u flag
    }
    for (const keyword of ['oneOf', 'anyOf', 'not']) {
      if (keyword in obj) assert.ok(has(keyword), `${where}: ${keyword} without errorMessage`);
    }
    const code = obj.errorCode as string | Record<string, string> | undefined;
    for (const c of typeof code === 'object' ? Object.values(code) : code === undefined ? [] : [code]) {
      assert.ok((ISSUE_CODES as readonly string[]).includes(c), `${where}: errorCode ${c} is not an IssueCode`);
    }
  }
});

test('docs/config.md documents every key of the schema and every issue code', () => {
  const docs = readFileSync(new URL('../../../docs/config.md', import.meta.url), 'utf8');
  const keys = new Set<string>();
  for (const [obj] of schemaObjects(schema, '#')) {
    if (obj === definitions) continue;
    for (const name of Object.keys((obj.properties as Record<string, unknown>) ?? {})) keys.add(name);
  }
  // As `key` or with its parents, `timeouts.connect`.
  const missing = [...keys].filter((key) => !new RegExp(`\`(?:[\\w.]+\\.)?${key}\``).test(docs));
  assert.deepStrictEqual(missing, []);
  assert.deepStrictEqual(ISSUE_CODES.filter((code) => !docs.includes(`\`${code}\``)), [], 'issue codes missing from the docs');
});
