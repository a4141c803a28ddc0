/**
 * One colour per version name, the same in every table, chip and chart of the page: the stable
 * version a fixed calm slate, well-known names fixed hues, and any other name a palette colour.
 *
 * The palette holds no colour near a fixed hue or another palette colour (every pair is at least
 * 23 apart in CIELAB ΔE*76; checked when the palette was chosen). A name's slot comes from a hash of
 * the name, so `feature-x` keeps its colour across services and reloads; when that slot is already
 * taken by another name on the page, the next free one is used, so two versions side by side never
 * share a colour (until more than PALETTE.length unnamed versions are on one page).
 */
const STABLE = '#64748b';

const NAMED: Record<string, string> = {
  stable: STABLE,
  canary: '#e8590c',
  beta: '#7c3aed',
  alpha: '#0d9488',
  preview: '#db2777',
  green: '#16a34a',
  blue: '#2563eb',
  gray: '#a16207',
  grey: '#a16207',
};

// cyan, lime, fuchsia, brown, ink, amber, crimson, sky
const PALETTE = ['#0891b2', '#65a30d', '#c026d3', '#78350f', '#1e293b', '#f59e0b', '#be123c', '#0369a1'];

/** Names given a palette colour on this page, in the order they were first seen (config order). */
const assigned = new Map<string, string>();

/** The colour of a version name. */
export function versionColor(name: string): string {
  const named = NAMED[name];
  if (named !== undefined) return named;
  const known = assigned.get(name);
  if (known !== undefined) return known;
  // FNV-1a: stable across loads and browsers.
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  const taken = new Set(assigned.values());
  const start = (h >>> 0) % PALETTE.length;
  let color = PALETTE[start]!;
  for (let k = 0; k < PALETTE.length; k++) {
    const c = PALETTE[(start + k) % PALETTE.length]!;
    if (!taken.has(c)) {
      color = c;
      break;
    }
  }
  assigned.set(name, color);
  return color;
}

/** Stable first, then the others by name: the order of stacks and legends. */
export function versionOrder(a: string, b: string, fallback = 'stable'): number {
  if (a === b) return 0;
  if (a === fallback) return -1;
  if (b === fallback) return 1;
  return a < b ? -1 : 1;
}
