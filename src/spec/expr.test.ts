import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileExpr, evaluateCondition, ExprError } from './expr.js';

const cases: [string, unknown, unknown][] = [
  ['result < 0.01', 0.005, true],
  ['result < 0.01', 0.02, false],
  ['result[0] < 0.3', [0.12, 9], true],
  ['result.data.rate >= 0.99', { data: { rate: 0.995 } }, true],
  ['result["data"].rate == 1', { data: { rate: 1 } }, true],
  ['len(result) == 0 || result[0] < 5', [], true],
  ['len(result) == 0 || result[0] < 5', [7], false],
  ['isNaN(result) || result < 0.01', Number.NaN, true],
  ['!(result > 1) && result != 0', 0.5, true],
  ['result * 100 - 1 < 4', 0.04, true],
  ['-result == -2', 2, true],
  ['abs(result - 3) <= 0.5', 2.6, true],
  ['result.ok', { ok: true }, true],
  ['result == "ok"', 'ok', true],
  ["result != 'ok'", 'fine', true],
  ['result == null', null, true],
  ['result == 1', '1', false],
  ['1 + 2 * 3 == 7', null, true],
  ['(1 + 2) * 3 == 9', null, true],
  ['.5 == 0.5 && 1e2 == 100', null, true],
  ['result < 1', Number.NaN, false],
  ['result == result', Number.NaN, false],
  ['false || true && false', null, false],
];

test('conditions evaluate to the expected booleans', () => {
  for (const [src, result, want] of cases) {
    assert.equal(compileExpr(src).evaluate(result), want, `${src} with ${JSON.stringify(result)}`);
  }
});

test('one parse is evaluated many times against different results', () => {
  const expr = compileExpr('result[0] < 0.3');
  assert.equal(evaluateCondition(expr, [0.1]), true);
  assert.equal(evaluateCondition(expr, [0.4]), false);
  assert.equal(evaluateCondition(expr, [0.2]), true);
});

test('syntax errors carry the code EXPR_SYNTAX and the offending position', () => {
  const bad: [string, number, RegExp][] = [
    ['result <', 8, /unexpected end/],
    ['result < 1 )', 11, /unexpected '\)'/],
    ['resul < 1', 0, /unknown name 'resul'/],
    ['result # 1', 7, /unexpected character/],
    ['1 < 2 < 3', 6, /cannot be chained/],
    ['len result', 4, /expected '\('/],
    ['"open', 0, /unterminated string/],
    ['result.', 7, /expected a field name/],
    ['process.exit()', 0, /unknown name 'process'/],
  ];
  for (const [src, pos, msg] of bad) {
    assert.throws(
      () => compileExpr(src),
      (e: unknown) => e instanceof ExprError && e.code === 'EXPR_SYNTAX' && e.position === pos && msg.test(e.message),
      src,
    );
  }
});

test('evaluation errors carry the code EXPR_EVAL and name the operator', () => {
  const bad: [string, unknown, number, RegExp][] = [
    ['result < 1', [0.5], 7, /cannot compare a list of 1 with the number 1/],
    ['result[3] < 1', [1], 6, /index 3 out of range/],
    ['result.rate < 1', { ok: true }, 6, /no field 'rate'/],
    ['result && true', 1, 7, /needs true or false/],
    ['len(result) > 0', 5, 0, /len\(\) cannot take/],
    ['result == result', [1], 7, /cannot compare/],
    ['result < 1', undefined, 0, /missing/],
  ];
  for (const [src, result, pos, msg] of bad) {
    const expr = compileExpr(src);
    assert.throws(
      () => expr.evaluate(result),
      (e: unknown) => e instanceof ExprError && e.code === 'EXPR_EVAL' && e.position === pos && msg.test(e.message),
      src,
    );
  }
  assert.throws(() => evaluateCondition(compileExpr('result + 1'), 1), /gave the number 2, not true or false/);
});

test('deep nesting is refused instead of exhausting the stack', () => {
  assert.throws(() => compileExpr('('.repeat(500) + '1' + ')'.repeat(500)), (e: unknown) => e instanceof ExprError);
  assert.throws(() => compileExpr('!'.repeat(500) + 'true'), (e: unknown) => e instanceof ExprError);
});

const onlyExprErrors = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch (e) {
    if (e instanceof ExprError) return true;
    throw e;
  }
};

test('property: any string either parses or throws ExprError', () => {
  fc.assert(fc.property(fc.string({ maxLength: 60 }), (src) => onlyExprErrors(() => compileExpr(src))), { numRuns: 2000 });
});

const tokenSoup = fc
  .array(
    fc.constantFrom(
      'result', '[', ']', '(', ')', '.', 'x', '0', '1.5', '"s"', '<', '<=', '==', '!=', '&&', '||', '!', '-', '+',
      '*', '/', 'len', 'isNaN', 'abs', 'true', 'null', ' ',
    ),
    { maxLength: 25 },
  )
  .map((parts) => parts.join(''));

const jsonResult = fc.oneof(
  fc.double(),
  fc.string({ maxLength: 5 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.double(), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom('x', 'ok', 'rate'), fc.oneof(fc.double(), fc.boolean()), { maxKeys: 3 }),
);

test('property: token soup parses or throws ExprError, and evaluation throws only ExprError', () => {
  fc.assert(
    fc.property(tokenSoup, jsonResult, (src, result) =>
      onlyExprErrors(() => {
        const expr = compileExpr(src);
        return onlyExprErrors(() => expr.evaluate(result));
      }),
    ),
    { numRuns: 3000 },
  );
});
