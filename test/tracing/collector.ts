/**
 * A local OTLP/HTTP receiver for the tracing tests: it accepts `POST /v1/traces` on 127.0.0.1,
 * decodes what arrives (OTLP JSON, gzip or not; protobuf is refused so a change of the exporter's
 * encoding fails loudly) and keeps every span with its resource attributes. It can also be down
 * in two ways: `hang` (accepts, never answers) and `fail` (answers 500).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export type AttributeValue = string | number | boolean;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 2 = SERVER. */
  kind: number;
  attributes: Record<string, AttributeValue>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  resource: Record<string, AttributeValue>;
}

export interface Collector {
  /** The endpoint for `tracing.otlp.endpoint` (no path: graylane appends /v1/traces). */
  url: string;
  spans: ReceivedSpan[];
  /** Each accepted export: how many spans it carried. */
  posts: number[];
  /** Request paths and content types seen, for the encoding check. */
  seen: { path: string; contentType: string }[];
  mode: 'ok' | 'hang' | 'fail';
  close(): Promise<void>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
}

function decodeAttributes(list: { key: string; value: OtlpValue }[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const { key, value } of list ?? []) {
    if (value.stringValue !== undefined) out[key] = value.stringValue;
    else if (value.intValue !== undefined) out[key] = Number(value.intValue);
    else if (value.doubleValue !== undefined) out[key] = value.doubleValue;
    else if (value.boolValue !== undefined) out[key] = value.boolValue;
  }
  return out;
}

/** The spans of one OTLP JSON ExportTraceServiceRequest. */
export function decodeExport(body: unknown): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of (body as { resourceSpans?: unknown[] }).resourceSpans ?? []) {
    const r = rs as { resource?: { attributes?: { key: string; value: OtlpValue }[] }; scopeSpans?: { spans?: Record<string, unknown>[] }[] };
    const resource = decodeAttributes(r.resource?.attributes);
    for (const ss of r.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: String(s.traceId),
          spanId: String(s.spanId),
          parentSpanId: typeof s.parentSpanId === 'string' ? s.parentSpanId : '',
          name: String(s.name),
          kind: Number(s.kind),
          attributes: decodeAttributes(s.attributes as { key: string; value: OtlpValue }[]),
          status: (s.status as { code: number; message?: string } | undefined) ?? { code: 0 },
          startTimeUnixNano: BigInt(s.startTimeUnixNano as string),
          endTimeUnixNano: BigInt(s.endTimeUnixNano as string),
          resource,
        });
      }
    }
  }
  return out;
}

export async function startCollector(): Promise<Collector> {
  const self = { spans: [], posts: [], seen: [], mode: 'ok' } as unknown as Collector;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const contentType = String(req.headers['content-type']);
      self.seen.push({ path: req.url!, contentType });
      if (self.mode === 'hang') return;
      if (self.mode === 'fail') return void res.writeHead(500).end();
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !contentType.startsWith('application/json')) {
        return void res.writeHead(415).end();
      }
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      const spans = decodeExport(JSON.parse(raw.toString('utf8')));
      self.spans.push(...spans);
      self.posts.push(spans.length);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  self.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return self;
}
