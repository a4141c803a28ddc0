/**
 * Web provider: one HTTP request; a 2xx answer's JSON body (or the value at `jsonPath`) is the
 * result. Another status is an error outcome, like Argo's. With no conditions, a boolean result is
 * the verdict (`jsonPath: $.ok` alone is a health check) and anything else passes.
 */
import { request } from 'undici';
import type { ProviderOutcome } from '../analysis.js';
import type { ProviderSpec } from '../../spec/rollout-model.js';
import { parseJsonPath, readJsonPath, JsonPathError } from '../../spec/json-path.js';
import { errorMessage, expandVars, type MeasureContext, type MetricProvider } from './types.js';

type WebSpec = Extract<ProviderSpec, { kind: 'web' }>;

export function webProvider(spec: WebSpec): MetricProvider {
  const path = spec.jsonPath === null ? null : parseJsonPath(spec.jsonPath);
  return {
    kind: 'web',
    async measure(ctx: MeasureContext): Promise<ProviderOutcome> {
      const url = expandVars(spec.url, ctx);
      let status: number;
      let text: string;
      try {
        const headers: Record<string, string> = { accept: 'application/json', ...spec.headers };
        if (spec.body !== null && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
          headers['content-type'] = 'application/json';
        }
        const res = await request(url, {
          method: spec.method,
          headers,
          body: spec.body === null ? null : expandVars(spec.body, ctx),
          headersTimeout: spec.timeoutMs,
          bodyTimeout: spec.timeoutMs,
          signal: AbortSignal.timeout(spec.timeoutMs),
        });
        status = res.statusCode;
        text = await res.body.text();
      } catch (e) {
        return { kind: 'error', message: `${spec.method} ${url}: ${errorMessage(e)}` };
      }
      if (status < 200 || status > 299) return { kind: 'error', message: `${spec.method} ${url}: HTTP ${status}: ${text.slice(0, 200)}` };
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        if (path !== null) return { kind: 'error', message: `${url} answered a body that is not JSON: ${text.slice(0, 200)}` };
        body = text;
      }
      let value: unknown;
      try {
        value = path === null ? body : readJsonPath(body, path);
      } catch (e) {
        if (e instanceof JsonPathError) return { kind: 'error', message: `${url}: ${e.message}` };
        throw e;
      }
      if (typeof value === 'boolean') return { kind: 'value', value, verdict: value ? 'Successful' : 'Failed' };
      return { kind: 'value', value };
    },
  };
}
