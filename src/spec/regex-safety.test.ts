import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRegex } from './regex-safety.js';

test('ordinary patterns are accepted', () => {
  const ok = [
    '^/api/v[0-9]+/',
    '^(on|yes|true)$',
    '(ab)+c',
    '(?:a|b)*',
    '(a+)?b', // optional, not repeated
    'a+b+c*',
    '[(+*)]+', // quantifier characters inside a class are literals
    '\\(a+\\)+', // escaped parentheses are literals
    '(?<ver>[0-9]+)\\.x',
    'x{2}',
    '(a{1})+',
    '{',
    '[]a+',
  ];
  for (const p of ok) assert.equal(checkRegex(p), undefined, p);
});

test('patterns that do not compile are bad-regex', () => {
  for (const p of ['(a', 'a**', '[b-a]', '?']) {
    assert.equal(checkRegex(p)?.code, 'bad-regex', p);
    assert.match(checkRegex(p)!.message, /^not a valid regular expression: \S/);
  }
});

test('nested quantifiers are unsafe, however deep', () => {
  for (const p of ['(a+)+', '(a*)*', '^(\\d+\\.)*\\d+$', '((ab)*c)+', '(?:x+y)+', '(a{2,})*', '((a+)?)+', '(?<n>a+){2,3}', '([a-z]+)+$']) {
    assert.equal(checkRegex(p)?.code, 'unsafe-regex', p);
    assert.match(checkRegex(p)!.message, /^nested quantifier /, p);
  }
});

test('backreferences and lookaround are unsafe', () => {
  assert.match(checkRegex('(a)\\1')!.message, /^backreference \\1 /);
  assert.match(checkRegex('(?<q>a)\\k<q>')!.message, /^backreference \\k<q> /);
  assert.match(checkRegex('a(?=b)')!.message, /^lookaround \(\?= /);
  assert.match(checkRegex('a(?!b)')!.message, /^lookaround \(\?! /);
  assert.match(checkRegex('(?<=a)b')!.message, /^lookaround \(\?<= /);
  assert.match(checkRegex('(?<!a)b')!.message, /^lookaround \(\?<! /);
});

test('ambiguous repetition (one string matched two ways under a repeat) is unsafe', () => {
  for (const p of ['(a|a)*', '^(\\w|\\d)+$', '(a|ab)*', '((a|a)b)*', '(a?a)+', '(.|\\s)*', '(?:x|x)+', '^([a-f]|[0-9a])+$', '(?:(?:a|b)|a)+', '(ab?b?)+', '(a?)+b']) {
    assert.equal(checkRegex(p)?.code, 'unsafe-regex', p);
    assert.match(checkRegex(p)!.message, /^ambiguous repetition /, p);
  }
});

test('repeated alternatives and optional parts that start differently are accepted', () => {
  for (const p of ['(?:a|b)*', '^(?:GET|POST|DELETE)+$', '(ab?)+', '(ba?)+c', '^(?:\\d|[a-f])+$', '(\\.|/)+', '(on|yes)', '(a|a)', '^(?:[a-z]|-)+$', '(\\s|x)+']) {
    assert.equal(checkRegex(p), undefined, p);
  }
});
