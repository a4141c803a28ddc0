import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BACKSLASH,
  BAD_ESCAPE,
  DOT_SEGMENT_PARAMETERS,
  HIDDEN_DOT_SEGMENT,
  normalizePercentEncoding,
  normalizeTarget,
  normalizedPattern,
  withoutPathParameters,
} from './path.js';
import { CompileError } from './errors.js';

test('paths without dot segments, repeated slashes, % or \\ are returned as the same string', () => {
  for (const url of ['/', '/a/b', '/a/b/?x=/../y', '/.well-known/x', '/a.b/c..d/...', '/a?b=%2e%2e', '/login;jsessionid=1', '/a?b=%zz']) {
    assert.equal(normalizeTarget(url), url, url);
  }
});

test('dot segments (also %2e-encoded) are removed, .. stopping at the root, and slashes merged; the query is kept', () => {
  const cases: [string, string][] = [
    ['/public/../admin', '/admin'],
    ['/public/%2e%2e/admin', '/admin'],
    ['/public/%2E%2e/admin?q=/../x', '/admin?q=/../x'],
    ['/public/.%2e/admin', '/admin'],
    ['/public/%2E%2E/internal', '/internal'],
    ['/a/./b/.', '/a/b/'],
    ['/a/b/..', '/a/'],
    ['/..', '/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['//admin', '/admin'],
    ['/a//b///c/', '/a/b/c/'],
    ['/a/%2e', '/a/'],
    ['/%2e%2e/x', '/x'],
  ];
  for (const [url, want] of cases) assert.equal(normalizeTarget(url), want, url);
});

test('encoded unreserved characters are decoded, other encodings get upper-case hex and stay encoded (RFC 3986 §6.2.2)', () => {
  const cases: [string, string][] = [
    ['/%69nternal/x', '/internal/x'],
    ['/new-ch%65ckout', '/new-checkout'],
    ['/new%2Dcheckout', '/new-checkout'],
    ['/new%2dcheckout?x=%2d', '/new-checkout?x=%2d'],
    ['/%41%5a%61%7A%30%39%2D%2E%5F%7E', '/AZaz09-._~'],
    ['/projects/group%2fname', '/projects/group%2Fname'],
    ['/a%20b', '/a%20b'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a%3bb', '/a%3Bb'],
    // One decoding only: %25 is '%', which is reserved, so %2569 stays and never becomes 'i'.
    ['/%2569nternal', '/%2569nternal'],
    ['/x/%2E%2E/%69nternal', '/internal'],
  ];
  for (const [url, want] of cases) assert.equal(normalizeTarget(url), want, url);
});

test('a % not followed by two hex digits is refused: decoding around it could make a new escape', () => {
  // `%%36%39` would decode to `%69`, which an upstream would decode once more to `i`.
  for (const url of ['/%%36%39nternal/x', '/a%zz', '/a%4', '/a%', '/%g1', '/a%2']) {
    assert.equal(normalizeTarget(url), BAD_ESCAPE, url);
  }
});

test('encoded slashes pass unchanged unless they hide a dot segment; a backslash is refused', () => {
  assert.equal(normalizeTarget('/projects/group%2Fname'), '/projects/group%2Fname');
  for (const url of ['/public%2f..%2fadmin', '/public/..%2fadmin', '/public/%2e%2e%5cadmin', '/a/%2e%2F', '/public/..%3Badmin', '/public/%2E%2E%3B/internal']) {
    assert.equal(normalizeTarget(url), HIDDEN_DOT_SEGMENT, url);
  }
  for (const url of ['/public\\..\\admin', '/a\\b']) assert.equal(normalizeTarget(url), BACKSLASH, url);
});

test('a dot segment with ;parameters is refused; other parameters are kept in the target', () => {
  for (const url of ['/public/..;/internal/x', '/public/..;x=1/internal', '/public/.;/x', '/public/%2E%2E;/internal', '/a/..;']) {
    assert.equal(normalizeTarget(url), DOT_SEGMENT_PARAMETERS, url);
  }
  assert.equal(normalizeTarget('/internal;x=1/x'), '/internal;x=1/x');
  assert.equal(normalizeTarget('/a/..x;/b'), '/a/..x;/b');
  assert.equal(normalizeTarget('/a;/../b'), '/b');
});

test('withoutPathParameters cuts ;parameters from every segment, for matching', () => {
  const cases: [string, string][] = [
    ['/internal;x=1/x', '/internal/x'],
    ['/login;jsessionid=ABC', '/login'],
    ['/;jsessionid=ABC', '/'],
    ['/a/;x/b', '/a/b'],
    ['/a;b;c/d;e/', '/a/d/'],
    ['/a%3Bb/c', '/a%3Bb/c'],
  ];
  for (const [path, want] of cases) assert.equal(withoutPathParameters(path), want, path);
  const plain = '/a/b';
  assert.equal(withoutPathParameters(plain), plain);
});

test('normalizePercentEncoding returns the same string when nothing changes, and config patterns are checked', () => {
  const s = '/a%20b%2F';
  assert.equal(normalizePercentEncoding(s), s);
  assert.equal(normalizedPattern('/new%2dcheckout', 'routes[0].match.pathPrefix'), '/new-checkout');
  assert.throws(() => normalizedPattern('/100%', 'routes[0].rules[1].path.contains'), (err: unknown) => {
    assert.ok(err instanceof CompileError);
    assert.match(String(err.message), /routes\[0\]\.rules\[1\]\.path\.contains/);
    assert.match(String(err.message), /%25/);
    return true;
  });
});
