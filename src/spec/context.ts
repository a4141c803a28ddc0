/**
 * What the section normalizers share: the issue list, the names other sections can refer to, and
 * tolerant readers.
 *
 * Normalizers run even when the schema found problems, so that one pass reports cross-reference
 * mistakes (an unknown service) next to shape mistakes (an unknown key). They therefore read the
 * data through readers that return undefined (or a neutral value) for anything of the wrong type
 * instead of trusting it; the schema has already reported those. The Spec they build is used only
 * when no issue at all was found.
 */
import type { IssueCode } from './errors.js';
import type { Path } from './paths.js';
import { didYouMean } from './suggest.js';
import type { PathIssue } from './yaml-source.js';

export class NormalizeContext {
  readonly issues: PathIssue[] = [];
  /** Service name -> its version names, as declared (even where a version itself is malformed). */
  readonly services: ReadonlyMap<string, ReadonlySet<string>>;
  /** Every version name of every service: the lanes that exist. */
  readonly lanes: ReadonlySet<string>;
  /**
   * Whether the names above are all there is: false when `services` (or some service's `versions`)
   * is not a mapping. The schema reports that; checking references against a partial list would
   * only add false "unknown service/lane" issues.
   */
  private readonly servicesKnown: boolean;
  private readonly lanesKnown: boolean;

  /**
   * @param data the whole document, for the name tables
   * @param sourceText the text of a number as written in the YAML (see YamlSource.sourceText)
   */
  constructor(
    data: unknown,
    private readonly sourceText: (path: Path) => string | undefined,
  ) {
    const raw = rec(data).services;
    const services = new Map<string, ReadonlySet<string>>();
    let lanesKnown = isRecord(raw);
    for (const [name, service] of entries(raw)) {
      const versions = rec(service).versions;
      lanesKnown &&= isRecord(versions);
      services.set(name, new Set(Object.keys(rec(versions))));
    }
    this.services = services;
    this.lanes = new Set([...services.values()].flatMap((versions) => [...versions]));
    this.servicesKnown = isRecord(raw);
    this.lanesKnown = lanesKnown;
  }

  /** Reports a route's service that is not declared. */
  checkService(path: Path, service: unknown): void {
    if (typeof service !== 'string' || this.services.has(service) || !this.servicesKnown) return;
    const known = [...this.services.keys()];
    this.report(path, 'unknown-service', `unknown service ${JSON.stringify(service)}${didYouMean(service, known)}; services are: ${known.join(', ') || '(none)'}`);
  }

  report(path: Path, code: IssueCode, message: string, at?: 'key' | 'value'): void {
    this.issues.push(at ? { path, code, message, at } : { path, code, message });
  }

  /**
   * A string value, where YAML may have read it as a number: `users: [1001]`, `equals: 1`. Numbers are
   * taken exactly as written (`0012` stays `0012`). Undefined for anything else.
   */
  text(path: Path, value: unknown): string | undefined {
    if (typeof value === 'string') return value;
    if (typeof value === 'number') return this.sourceText(path) ?? String(value);
    return undefined;
  }

  /**
   * Reports a lane that is not a version of any service. A lane need not be a version of the route's
   * own service (full-link gray: the request keeps its lane downstream), but a lane no service has
   * can only be a typo.
   */
  checkLane(path: Path, lane: unknown, at?: 'key' | 'value'): void {
    if (typeof lane !== 'string' || this.lanes.has(lane) || !this.lanesKnown) return;
    const known = [...this.lanes].sort();
    const list = known.length === 0 ? 'no service declares any version' : known.length <= 12 ? `versions are: ${known.join(', ')}` : '';
    this.report(
      path,
      'unknown-lane',
      `lane ${JSON.stringify(lane)} is not a version of any service${didYouMean(lane, known)}; a lane must name a version of some service${list ? ` (${list})` : ''}`,
      at,
    );
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Tolerant readers: the value if it has the expected type, else a neutral one. */
export function rec(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function entries(value: unknown): [string, unknown][] {
  return Object.entries(rec(value));
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function bool(value: unknown, fallback: boolean): boolean {
  return typeof value === 'boolean' ? value : fallback;
}

/** Whether the mapping has the key itself (not through its prototype: keys come from a user's file). */
export function has(record: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(record, key);
}
