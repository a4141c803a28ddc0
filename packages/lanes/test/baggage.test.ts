import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  LANE_BAGGAGE_KEY,
  MAX_BAGGAGE_BYTES,
  MAX_BAGGAGE_MEMBERS,
  baggageLane,
  baggageValue,
  isBaggageKey,
  parseBaggage,
  withBaggageLane,
  withBaggageMember,
  withoutBaggageLane,
} from '../src/baggage.js';

test('baggageLane reads the member with whitespace, properties and percent-encoding', () => {
  assert.equal(baggageLane('graylane-lane=beta'), 'beta');
  assert.equal(baggageLane('a=1 , graylane-lane = beta ;ttl=3, c=3'), 'beta');
  assert.equal(baggageLane('graylane-lane=feature%2Fx'), 'feature/x');
  assert.equal(baggageLane('graylane-lane=bad%zz'), 'bad%zz');
  assert.equal(baggageLane(undefined), undefined);
  assert.equal(baggageLane(''), undefined);
});

test('baggageLane matches the whole key only', () => {
  assert.equal(baggageLane('x-graylane-lane=no'), undefined);
  assert.equal(baggageLane('graylane-lanes=no'), undefined);
  assert.equal(baggageLane('k=graylane-lane=no'), undefined);
  assert.equal(baggageLane('k=1;graylane-lane=no'), undefined);
  assert.equal(baggageLane('x-graylane-lane=no,graylane-lane=yes'), 'yes');
  assert.equal(baggageValue('graylane-lane=a,graylane-lane=b', LANE_BAGGAGE_KEY), 'a');
});

test('a key that decodes to the lane key is the lane member: percent-encoded, any case, whitespace around it', () => {
  const spellings = ['graylane%2Dlane', 'graylane%2dlane', '%67raylane-lane', 'GRAYLANE-LANE', 'GrayLane%2DLane', ' graylane-lane ', 'graylane-lane%20', '%20graylane-lane', '%67%72%61%79%6C%61%6E%65%2D%6C%61%6E%65'];
  for (const k of spellings) {
    assert.ok(isBaggageKey(k, LANE_BAGGAGE_KEY), k);
    // The OpenTelemetry issue's vector: a decoy member first, the encoded one last (last wins there).
    const header = `graylane-lane=x, ${k}=alpha;p=1, other=1`;
    assert.equal(withBaggageLane(header, 'stable'), 'graylane-lane=stable, other=1', k);
    // The whitespace before a member is the text between members, kept as written.
    assert.equal(withBaggageLane(`${k}=alpha`, 'stable').trim(), 'graylane-lane=stable', k);
    assert.equal(withBaggageLane(`a=1,${k}=alpha`, 'stable').replace(', ', ','), 'a=1,graylane-lane=stable', k);
    assert.equal(withoutBaggageLane(`a=1, ${k}=alpha, b=2`), 'a=1, b=2', k);
    assert.equal(baggageLane(`${k}=alpha`), 'alpha', k);
  }
  for (const k of ['graylane lane', 'graylane-lane%00', 'graylane%252Dlane', 'graylane-lan', 'graylane-lanes', 'graylane%2D', 'graylane%2']) {
    assert.ok(!isBaggageKey(k, LANE_BAGGAGE_KEY), k);
    assert.equal(baggageLane(`${k}=alpha`), undefined, k);
    assert.equal(withBaggageLane(`${k}=alpha`, 'b'), `${k}=alpha,graylane-lane=b`, k);
  }
});

test('members that are not key=value are never the lane member: a property, an empty member, an encoded =', () => {
  assert.equal(baggageLane('graylane-lane;x=alpha'), undefined);
  assert.equal(baggageLane('graylane-lane%3Dalpha'), undefined);
  assert.equal(baggageLane(',, ,graylane-lane=beta,,'), 'beta');
  assert.equal(withBaggageLane('a=1;graylane-lane=alpha', 'b'), 'a=1;graylane-lane=alpha,graylane-lane=b');
  assert.equal(withBaggageLane(',,graylane%2Dlane=alpha,,', 'b'), ',,graylane-lane=b,,');
});

test('withBaggageLane appends to other members and keeps them byte-for-byte', () => {
  assert.equal(withBaggageLane(undefined, 'beta'), 'graylane-lane=beta');
  assert.equal(withBaggageLane('  ', 'beta'), 'graylane-lane=beta');
  assert.equal(withBaggageLane('userId=alice;p=1 ,  x=%20y', 'beta'), 'userId=alice;p=1 ,  x=%20y,graylane-lane=beta');
  assert.equal(withBaggageLane('a=1, ', 'beta'), 'a=1,graylane-lane=beta');
});

test('withBaggageLane replaces an existing lane member in place and drops duplicates', () => {
  assert.equal(withBaggageLane('a=1, graylane-lane=alpha;p=2 ,b=2', 'beta'), 'a=1, graylane-lane=beta ,b=2');
  assert.equal(withBaggageLane('graylane-lane=alpha', 'beta'), 'graylane-lane=beta');
  assert.equal(withBaggageLane('graylane-lane=a, x=1, graylane-lane=b, y=2', 'c'), 'graylane-lane=c, x=1, y=2');
  assert.equal(withBaggageLane('x=1,graylane-lane=a,graylane-lane=b', 'c'), 'x=1,graylane-lane=c');
  // A lane that is not a baggage octet string is percent-encoded.
  assert.equal(withBaggageLane('', 'a b,c'), 'graylane-lane=a%20b%2Cc');
  assert.equal(baggageLane(withBaggageLane('', 'a b,c')), 'a b,c');
});

test('withoutBaggageLane removes the member and its separator, nothing else', () => {
  assert.equal(withoutBaggageLane('k1=v1,graylane-lane=alpha;p=1, k2=v2'), 'k1=v1, k2=v2');
  assert.equal(withoutBaggageLane('graylane-lane=alpha, k2=v2;q'), ' k2=v2;q');
  assert.equal(withoutBaggageLane('k1=v1 , graylane-lane=alpha'), 'k1=v1 ');
  assert.equal(withoutBaggageLane('graylane-lane=alpha'), '');
  assert.equal(withoutBaggageLane('graylane-lane=a,graylane-lane=b'), '');
  const untouched = 'k1=v1, x-graylane-lane=1';
  assert.equal(withoutBaggageLane(untouched), untouched);
});

test('over the W3C limits, other members are dropped from the end and the lane kept', () => {
  const many = Array.from({ length: MAX_BAGGAGE_MEMBERS }, (_, i) => `k${i}=v`).join(',');
  const out = withBaggageLane(many, 'beta');
  const members = parseBaggage(out);
  assert.equal(members.length, MAX_BAGGAGE_MEMBERS);
  assert.equal(baggageLane(out), 'beta');
  assert.equal(members.at(-2)?.key, `k${MAX_BAGGAGE_MEMBERS - 2}`);

  const big = `a=${'x'.repeat(5000)},b=${'y'.repeat(3000)},c=${'z'.repeat(200)}`;
  const fitted = withBaggageLane(big, 'beta');
  assert.ok(Buffer.byteLength(fitted) <= MAX_BAGGAGE_BYTES);
  assert.deepEqual(
    parseBaggage(fitted).map((m) => m.key),
    ['a', 'b', LANE_BAGGAGE_KEY],
  );
});

test('parseBaggage returns well-formed members and skips malformed ones', () => {
  assert.deepEqual(parseBaggage('a=1;p=2;q, bad, =x, b = %41 ,,c=;z'), [
    { key: 'a', value: '1', properties: ';p=2;q', raw: 'a=1;p=2;q' },
    { key: 'b', value: 'A', properties: '', raw: 'b = %41' },
    { key: 'c', value: '', properties: ';z', raw: 'c=;z' },
  ]);
});

// Generators following the W3C grammar: key = token, value = *baggage-octet, properties after `;`.
const tokenChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&\'*+-.^_`|~'.split(''));
const octet = fc.constantFrom(...'abcXYZ019!#$&\'()*+-./:<=>?@[]^_`{|}~%'.split(''));
const key = fc
  .string({ unit: tokenChar, minLength: 1, maxLength: 12 })
  .filter((k) => !isBaggageKey(k, LANE_BAGGAGE_KEY));
const value = fc.string({ unit: octet, maxLength: 16 });
const property = fc.oneof(
  key,
  fc.tuple(key, value).map(([k, v]) => `${k}=${v}`),
);
const ows = fc.constantFrom('', ' ', '  ', '\t');
const member = fc
  .tuple(key, ows, ows, value, fc.array(property, { maxLength: 3 }))
  .map(([k, s1, s2, v, props]) => `${k}${s1}=${s2}${v}${props.map((p) => `;${p}`).join('')}`);
const laneName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/);

/** A header of other members, with the lane member (any value, any properties) maybe in between. */
const header = fc
  .tuple(fc.array(fc.tuple(ows, member, ows), { maxLength: 8 }), fc.option(fc.tuple(fc.nat(8), value, fc.array(property, { maxLength: 2 }))))
  .map(([others, lane]) => {
    const parts = others.map(([a, m, b]) => `${a}${m}${b}`);
    if (lane !== null) {
      const [at, v, props] = lane;
      parts.splice(Math.min(at, parts.length), 0, `${LANE_BAGGAGE_KEY}=${v}${props.map((p) => `;${p}`).join('')}`);
    }
    return { text: parts.join(','), others: others.map(([, m]) => m.trim()) };
  });

test('property: setting the lane keeps every other member byte-for-byte, in order', () => {
  fc.assert(
    fc.property(header, laneName, ({ text, others }, lane) => {
      const out = withBaggageLane(text, lane);
      assert.equal(baggageLane(out), lane);
      const rest = parseBaggage(out).filter((m) => m.key !== LANE_BAGGAGE_KEY);
      assert.deepEqual(
        rest.map((m) => m.raw),
        others,
      );
      assert.equal(parseBaggage(out).filter((m) => m.key === LANE_BAGGAGE_KEY).length, 1);
    }),
  );
});

test('property: removing the lane keeps every other member byte-for-byte, and set-then-remove is lossless', () => {
  fc.assert(
    fc.property(header, laneName, ({ text, others }, lane) => {
      const removed = withoutBaggageLane(text);
      assert.equal(baggageLane(removed), undefined);
      assert.deepEqual(
        parseBaggage(removed).map((m) => m.raw),
        others,
      );
      assert.deepEqual(
        parseBaggage(withoutBaggageLane(withBaggageLane(text, lane))).map((m) => m.raw),
        others,
      );
    }),
  );
});

test('property: a header without the lane member is a prefix of the merged header', () => {
  fc.assert(
    fc.property(header, laneName, ({ text }, lane) => {
      fc.pre(baggageLane(text) === undefined && text.trim() !== '');
      const out = withBaggageMember(text, LANE_BAGGAGE_KEY, lane);
      assert.ok(out.startsWith(text.replace(/[\s,]+$/, '')), `${JSON.stringify(out)} does not extend ${JSON.stringify(text)}`);
    }),
  );
});

test('property: baggageValue reads what parseBaggage parses, for the lane and for every other key', () => {
  fc.assert(
    fc.property(header, ({ text }) => {
      const parsed = parseBaggage(text);
      assert.equal(baggageLane(text), parsed.find((m) => m.key === LANE_BAGGAGE_KEY)?.value);
      for (const m of parsed) assert.equal(baggageValue(text, m.key), parsed.find((x) => isBaggageKey(x.key, m.key))?.value);
    }),
  );
});
