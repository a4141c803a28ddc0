import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isLaneName, isObjectName, toName } from './names.js';
import { SCHEMA_FILE } from './schema.js';

const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as {
  definitions: { name: { pattern: string } };
};

test('the JSON Schema states the lane name rule the SDK checks', () => {
  const pattern = new RegExp(schema.definitions.name.pattern);
  for (const s of ['beta', 'v2.1', 'A-1', 'beta-', 'a'.repeat(63), 'a'.repeat(64), '', '-a', '.a', 'a b', 'a/b', 'ä', '9']) {
    assert.equal(pattern.test(s), isLaneName(s), JSON.stringify(s));
  }
});

test('lane names and rollout names differ where docs/config.md says they do', () => {
  // Both: letters, digits, '.', '_', '-', starting with a letter or digit.
  for (const ok of ['beta', 'v2.1', 'canary_2', 'A-1']) {
    assert.ok(isLaneName(ok), ok);
    assert.ok(isObjectName(ok), ok);
  }
  // A lane may end in '.', '_' or '-'; a rollout or template name may not.
  assert.ok(isLaneName('beta-'));
  assert.ok(!isObjectName('beta-'));
  // A lane has at most 63 characters (it travels in headers); a rollout name has no limit.
  assert.ok(!isLaneName('a'.repeat(64)));
  assert.ok(isObjectName('a'.repeat(64)));
  for (const bad of ['', '-a', '.a', 'a b', 'a/b', 'ä']) {
    assert.ok(!isLaneName(bad), bad);
    assert.ok(!isObjectName(bad), bad);
  }
});

test('toName gives a name valid under both rules', () => {
  for (const raw of ['web/v2', '--x--', 'a'.repeat(70) + '-', '...', 'Checkout.V2_']) {
    const name = toName(raw);
    assert.ok(isLaneName(name) && isObjectName(name), `${raw} -> ${name}`);
  }
  assert.equal(toName('web/v2'), 'web-v2');
  assert.equal(toName('...'), 'x');
});
