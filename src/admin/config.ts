/**
 * Admin API routes about the loaded config:
 *
 * ```
 * GET  /api/v1/config     { file, loadedAt, snapshotId, configHash, reloads, lastReloadError, store }
 * POST /api/v1/explain    { url, headers? } -> Explanation (routing/explain.ts)
 * ```
 * `lastReloadError` is the last rejected reload in full (every issue with file:line:col), cleared by
 * the next successful one; the gateway keeps serving the config it had.
 *
 * Explain runs against a Snapshot compiled for the request from the live spec and status, not the
 * live Snapshot itself: explaining moves balancing counters (routing/explain.ts), and an API call
 * must not shift real traffic. Endpoint health is the gateway's live table.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { requestView as gatewayRequestView } from '../gateway/request-view.js';
import { compile, explain } from '../routing/index.js';
import { normalizeTarget } from '../routing/path.js';
import type { HealthView, RequestView, Status } from '../routing/types.js';
import type { ConfigIssue, Spec } from '../spec/index.js';
import type { ConfigInfo } from '../metrics/config-info.js';
import { ApiError, onlyKeys, type ApiRoute } from './server.js';
import { ObjectHeaders } from '../routing/request-values.js';

export type { ConfigInfo, ReloadError } from '../metrics/config-info.js';

export interface ConfigSource {
  info(): ConfigInfo;
  spec(): Spec;
  status(): Status;
  health: HealthView;
}

export function configRoutes(source: ConfigSource): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: '/api/v1/config',
      access: 'read',
      handle: () => ({ body: source.info() }),
    },
    {
      method: 'POST',
      path: '/api/v1/explain',
      // A dry run that changes nothing: open like the other reads, though it is a POST for its body.
      access: 'read',
      handle(req) {
        onlyKeys(req.body, ['url', 'headers']);
        const view = requestView(req.body.url, req.body.headers);
        const snapshot = compile(source.spec(), source.status());
        return { body: explain(snapshot, view, source.health, { random: Math.random, newVisitorId: randomUUID }) };
      },
    },
  ];
}

/** The request explain() needs, from an absolute URL and a header map. */
function requestView(url: unknown, headers: unknown): RequestView {
  if (typeof url !== 'string') throw new ApiError(400, 'missing_field', 'url is required: an absolute URL such as http://prod.example.com/path?x=1');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ApiError(400, 'invalid_field', `url ${JSON.stringify(url)} is not an absolute URL`);
  }
  if (headers !== undefined && (typeof headers !== 'object' || headers === null || Array.isArray(headers))) {
    throw new ApiError(400, 'invalid_field', 'headers must be an object of header names to string values');
  }
  const h: IncomingHttpHeaders = { host: parsed.host };
  for (const [name, value] of Object.entries((headers ?? {}) as Record<string, unknown>)) {
    if (typeof value !== 'string') throw new ApiError(400, 'invalid_field', `header ${name} must be a string`);
    h[name.toLowerCase()] = value;
  }
  // The gateway's own normalisation and request view, so explain matches what the gateway matches.
  const target = normalizeTarget(parsed.pathname + parsed.search);
  if (typeof target !== 'string') throw new ApiError(400, 'invalid_field', `url ${JSON.stringify(url)}: ${target.reason} (the gateway answers 400)`);
  // The host comes from the URL, as before, even when `headers` names another.
  return { ...gatewayRequestView(target, { host: parsed.host }), headers: new ObjectHeaders(h) };
}
