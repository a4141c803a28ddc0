/**
 * One colour per version name, the same in every table, chip and chart of the page: the stable
 * version a fixed calm slate, well-known names fixed hues, any other name a palette colour chosen
 * by a hash of the name (so `feature-x` has the same colour in every service and on every load).
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

const PALETTE = ['#c2410c', '#9333ea', '#0f766e', '#be185d', '#1d4ed8', '#b45309', '#4d7c0f', '#0369a1'];

/** The colour of a version name. */
export function versionColor(name: string): string {
  const named = NAMED[name];
  if (named !== undefined) return named;
  // FNV-1a: stable across loads and browsers.
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return PALETTE[(h >>> 0) % PALETTE.length]!;
}

/** Stable first, then the others by name: the order of stacks and legends. */
export function versionOrder(a: string, b: string, fallback = 'stable'): number {
  if (a === b) return 0;
  if (a === fallback) return -1;
  if (b === fallback) return 1;
  return a < b ? -1 : 1;
}
