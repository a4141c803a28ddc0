/** A tiny element builder and the number formats of the page. */
import { versionColor } from './colors.js';

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;

/**
 * `h('td', { class: 'num' }, '12.3')`. Attributes starting with `on` are listeners, `style` is set
 * through the CSSOM; `false`, null
 * and undefined attributes and children are left out. Text is always set as text, never as HTML.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    // Through the CSSOM: the page's Content-Security-Policy refuses style attributes in markup.
    else if (k === 'style') el.style.cssText = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** The same for SVG elements. */
export function s(tag: string, attrs: Record<string, string | number> = {}, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(typeof c === 'number' ? String(c) : c);
  }
}

/** A version name with its colour swatch. */
export function versionChip(name: string): HTMLElement {
  return h('span', { class: 'chip', 'data-version': name }, h('i', { class: 'swatch', style: `background:${versionColor(name)}` }), name);
}

export function fmtRate(rps: number): string {
  if (rps === 0) return '0';
  return rps >= 100 ? rps.toFixed(0) : rps >= 10 ? rps.toFixed(1) : rps.toFixed(2);
}

export function fmtPercent(share: number | null, digits = 1): string {
  return share === null ? '–' : `${share.toFixed(digits)}%`;
}

export function fmtMs(ms: number | null): string {
  if (ms === null) return '–';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
}

/**
 * hourCycle h23, not hour12: false: under ECMA-402's older rule (Node 20, and browsers that keep
 * it), hour12: false on a locale with a 12-hour default (en-US) counts hours 1 to 24, so the hour
 * after midnight read 24:05:07. Chromium already maps it to h23.
 */
const CLOCK: Intl.DateTimeFormatOptions = { hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' };

export function fmtTime(epochMs: number | null): string {
  if (epochMs === null) return '–';
  return new Date(epochMs).toLocaleTimeString([], CLOCK);
}

export function fmtDateTime(epochMs: number): string {
  const d = new Date(epochMs);
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString([], CLOCK)}`;
}

/** A measurement value as JSON-ish text, short. */
export function fmtValue(v: unknown): string {
  if (v === undefined) return '–';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(4).replace(/\.?0+$/, '');
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}
