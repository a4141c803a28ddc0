/**
 * Lane names are version names (docs/config.md, schema `definitions.name`): a letter or digit, then
 * up to 62 letters, digits, `.`, `_` or `-`. The SDK only accepts and writes lanes of this form, so a
 * lane taken from a request can always be written into an outbound header.
 */
const LANE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** True when `s` is a valid lane (and version) name. */
export function isLaneName(s: string): boolean {
  return LANE_NAME.test(s);
}
