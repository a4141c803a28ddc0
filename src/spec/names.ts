/**
 * Every name rule of the config, in one module (docs/config.md#names). Two rules, different on
 * purpose:
 *
 * - **Service, version and lane names**: a letter or digit, then up to 62 letters, digits, `.`, `_`
 *   or `-`. One rule for the three because a lane is a version name (full-link gray). A lane travels
 *   in a header and in baggage, so it is short and needs no escaping. Defined in the SDK
 *   (packages/lanes, `@graylane/lanes`), which every service imports without the config loader; the JSON
 *   Schema's `definitions.name` repeats it (names.test.ts holds the two equal).
 * - **Rollout and analysis template names**: letters, digits, `.`, `_` or `-`, starting and ending
 *   with a letter or digit, any length. They name objects in the admin API's URLs, the CLI and
 *   etcd keys, never a header; the rule for the ends is Kubernetes' object-name rule, which the
 *   Argo Rollouts and OpenKruise objects `graylane import` reads already follow.
 */
import { isLaneName } from '@graylane/lanes';

export { isLaneName };

/** A rollout or analysis template name. */
export const OBJECT_NAME = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/i;

/** True when `s` is a valid rollout or analysis template name. */
export function isObjectName(s: string): boolean {
  return OBJECT_NAME.test(s);
}

/**
 * A name valid under both rules, made from anything (an imported object's name): characters
 * outside the rules become `-`, the ends are trimmed to a letter or digit, at most 63 characters;
 * `x` when nothing is left.
 */
export function toName(raw: string): string {
  let name = raw.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  name = name.slice(0, 63).replace(/[^A-Za-z0-9]+$/, '');
  if (name === '') name = 'x';
  return isLaneName(name) && isObjectName(name) ? name : 'x';
}
