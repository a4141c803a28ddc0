/**
 * The decision listener (docs/integrations.md): an edge proxy asks graylane for each request's
 * lane and dispatches by the answer itself. Absent means off, and the Spec then has no `decide` key.
 */
import type { DecideProxy, DecideReportSpec, DecideSpec } from '../types.js';
import { isRecord, rec, str, type NormalizeContext } from '../context.js';
import { parseListen } from '../units.js';

/** Next to the mesh listener's default (8081). */
export const DEFAULT_DECIDE_LISTEN = '127.0.0.1:8082';

export function normalizeDecide(data: Record<string, unknown>, ctx: NormalizeContext): { decide?: DecideSpec } {
  // Anything but a mapping, a missing or unknown `proxy`, a malformed pathPrefix: reported by the schema.
  if (!isRecord(data.decide)) return {};
  const raw = rec(data.decide);
  const listen = str(raw.listen) ?? DEFAULT_DECIDE_LISTEN;
  if (parseListen(listen) === undefined) ctx.report(['decide', 'listen'], 'bad-listen', `port must be 0..65535, got "${listen}"`);
  const proxy = (str(raw.proxy) ?? 'traefik') as DecideProxy;
  const pathPrefix = str(raw.pathPrefix) ?? '';
  // Only Envoy puts a prefix in front of the original path; for the others it would cut a real path.
  if (pathPrefix !== '' && proxy !== 'envoy') {
    ctx.report(['decide', 'pathPrefix'], 'invalid-value', `pathPrefix is Envoy's ext_authz path_prefix; proxy ${proxy} sends the original path in a header, so remove pathPrefix`);
  }
  const decide: DecideSpec = { listen, proxy, noRoute: str(raw.noRoute) === 'deny' ? 'deny' : 'pass', pathPrefix };
  if (isRecord(raw.report)) {
    const report = rec(raw.report);
    const out: DecideReportSpec = { sampleOneIn: typeof report.sampleOneIn === 'number' ? report.sampleOneIn : 1 };
    for (const key of ['syslog', 'http'] as const) {
      const at = str(report[key]);
      if (at === undefined) continue;
      if (parseListen(at) === undefined) ctx.report(['decide', 'report', key], 'bad-listen', `port must be 0..65535, got "${at}"`);
      out[key] = at;
    }
    // Missing both is reported by the schema (anyOf syslog, http).
    decide.report = out;
  }
  return { decide };
}
