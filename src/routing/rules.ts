/**
 * One Rule compiled into a predicate plus its precomputed MarkResult. The conditions of a rule are
 * ANDed; the cheap ones run first and `percent` runs last, so a rule that fails on its path or
 * header never reads the identity and never mints a visitor id.
 */
import type { PathMatch, Rule } from '../spec/types.js';
import type { ConditionCheck, MarkResult, StepCheck } from './types.js';
import { CompileError } from './errors.js';
import { normalizedPattern } from './path.js';
import type { Subject } from './identity.js';
import {
  appVersionCondition,
  cookieCondition,
  headerCondition,
  pathCondition,
  percentCondition,
  queryCondition,
  usersCondition,
  type Condition,
} from './conditions.js';

export interface CompiledRule {
  readonly name: string;
  readonly lane: string;
  /** All conditions hold. */
  readonly test: (s: Subject) => boolean;
  /** What mark returns when this rule wins (frozen, shared by every request it marks). */
  readonly result: MarkResult;
  /** For explain: `test` step by step, with what each condition read (see StepCheck). */
  readonly check: (s: Subject) => StepCheck;
}

/**
 * @param keyPath where the rule sits, e.g. `routes[0].rules[3]`; its default name when it has none.
 */
export function compileRule(rule: Rule, keyPath: string, defaultName: string = keyPath): CompiledRule {
  if (typeof rule.lane !== 'string' || rule.lane === '') throw new CompileError(`${keyPath}.lane`, 'a rule needs a lane');
  const conditions: Condition[] = [];
  // Cheapest first; percent last (it may hash, draw a random number or mint a visitor id).
  if (rule.path !== undefined) conditions.push(pathCondition(normalizedPathMatch(rule.path, `${keyPath}.path`), `${keyPath}.path`));
  if (rule.header !== undefined) conditions.push(headerCondition(rule.header, `${keyPath}.header`));
  if (rule.query !== undefined) conditions.push(queryCondition(rule.query, `${keyPath}.query`));
  if (rule.cookie !== undefined) conditions.push(cookieCondition(rule.cookie, `${keyPath}.cookie`));
  if (rule.users !== undefined) conditions.push(usersCondition(rule.users));
  if (rule.appVersion !== undefined) conditions.push(appVersionCondition(rule.appVersion, `${keyPath}.appVersion`));
  if (rule.percent !== undefined) conditions.push(percentCondition(rule.percent, `${keyPath}.percent`));

  const name = rule.name ?? defaultName;
  const what = conditions.length === 0 ? 'no conditions' : conditions.map((c) => c.text).join(' and ');
  // Only a rule that draws and checks nothing else is chance: `percent` with a path (or any other
  // condition) samples a subset of requests that the other lane's traffic does not match.
  const chance = rule.percent !== undefined && conditions.length === 1;
  const result: MarkResult = { lane: rule.lane, assignment: chance ? 'chance' : 'targeted', by: name, reason: `rule ${name} matched: ${what} -> lane ${rule.lane}` };
  if (rule.headers !== undefined) result.headers = rule.headers;
  return { name, lane: rule.lane, test: allOf(conditions), result: Object.freeze(result), check: checkAll(name, rule.lane, conditions) };
}

/** allOf, recording each condition it runs; like allOf it stops at the first that fails. */
function checkAll(step: string, lane: string, conditions: readonly Condition[]): (s: Subject) => StepCheck {
  return (s) => {
    const checks: ConditionCheck[] = [];
    for (const c of conditions) {
      const check = c.explain !== undefined ? c.explain(s) : { condition: c.text, holds: c.test(s) };
      checks.push(check);
      if (!check.holds) return { step, lane, matched: false, checks };
    }
    return { step, lane, matched: true, checks };
  };
}

/**
 * The rule's `contains` and `prefix` in the form request paths are compared in (routing/path.ts),
 * so `contains: /new%2dcheckout` matches what a request for it is normalised to. A regex sees the
 * normalised path as it is.
 */
function normalizedPathMatch(m: PathMatch, keyPath: string): PathMatch {
  const out: PathMatch = { ...m };
  if (m.contains !== undefined) out.contains = normalizedPattern(m.contains, `${keyPath}.contains`);
  if (m.prefix !== undefined) out.prefix = normalizedPattern(m.prefix, `${keyPath}.prefix`);
  return out;
}

function allOf(conditions: readonly Condition[]): (s: Subject) => boolean {
  const tests = conditions.map((c) => c.test);
  switch (tests.length) {
    case 0:
      return () => true;
    case 1:
      return tests[0]!;
    case 2: {
      const [a, b] = tests as [(s: Subject) => boolean, (s: Subject) => boolean];
      return (s) => a(s) && b(s);
    }
    default:
      return (s) => {
        for (let i = 0; i < tests.length; i++) if (!tests[i]!(s)) return false;
        return true;
      };
  }
}
