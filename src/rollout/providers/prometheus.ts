/**
 * Prometheus provider: one instant query against the HTTP API (`GET /api/v1/query`). A vector
 * result becomes a list of its sample values and a scalar a list of one, so conditions read
 * `result[0] < 0.3` either way (`len(result) == 0` for an empty vector). Matrix and string results,
 * API errors and unparsable answers are error outcomes.
 */
import { request } from 'undici';
import type { ProviderOutcome } from '../analysis.js';
import type { ProviderSpec } from '../../spec/rollout-model.js';
import { errorMessage, expandVars, type MeasureContext, type MetricProvider } from './types.js';

type PrometheusSpec = Extract<ProviderSpec, { kind: 'prometheus' }>;

interface ApiAnswer {
  status?: string;
  errorType?: string;
  error?: string;
  data?: { resultType?: string; result?: unknown };
}

export function prometheusProvider(spec: PrometheusSpec): MetricProvider {
  const endpoint = `${spec.address.replace(/\/+$/, '')}/api/v1/query`;
  return {
    kind: 'prometheus',
    async measure(ctx: MeasureContext): Promise<ProviderOutcome> {
      const query = expandVars(spec.query, ctx);
      const url = `${endpoint}?query=${encodeURIComponent(query)}`;
      let status: number;
      let text: string;
      try {
        const res = await request(url, {
          method: 'GET',
          headers: { accept: 'application/json', ...spec.headers },
          headersTimeout: spec.timeoutMs,
          bodyTimeout: spec.timeoutMs,
          signal: AbortSignal.timeout(spec.timeoutMs),
        });
        status = res.statusCode;
        text = await res.body.text();
      } catch (e) {
        return { kind: 'error', message: `prometheus ${spec.address}: ${errorMessage(e)}` };
      }
      let answer: ApiAnswer;
      try {
        answer = JSON.parse(text) as ApiAnswer;
      } catch {
        return { kind: 'error', message: `prometheus answered HTTP ${status} with a body that is not JSON: ${text.slice(0, 200)}` };
      }
      if (answer.status !== 'success') {
        return { kind: 'error', message: `prometheus HTTP ${status}: ${answer.errorType ?? 'error'}: ${answer.error ?? 'no message'}` };
      }
      const values = toNumbers(answer.data);
      if (typeof values === 'string') return { kind: 'error', message: values };
      return { kind: 'value', value: values };
    },
  };
}

/** Sample values of a vector or scalar result; a message for anything else. */
function toNumbers(data: ApiAnswer['data']): number[] | string {
  const type = data?.resultType;
  const result = data?.result;
  if (type === 'scalar' && Array.isArray(result)) return [Number(result[1])];
  if (type === 'vector' && Array.isArray(result)) {
    const out: number[] = [];
    for (const sample of result as { value?: unknown }[]) {
      if (!Array.isArray(sample?.value)) return 'prometheus vector sample without a value';
      out.push(Number(sample.value[1]));
    }
    return out;
  }
  return `prometheus result type ${String(type)} is not supported: write a query that returns a vector or a scalar`;
}
