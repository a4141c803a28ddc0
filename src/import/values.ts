/**
 * The forms graylane's loader requires of the values an import copies from its sources (hosts,
 * paths, header / cookie / query names, endpoint URLs), checked where the value is read, so a value
 * graylane would refuse is an error at its place in the input (file, document, key path) rather than
 * an invalid output. Pattern and message are read from the schema itself
 * (schema/graylane.schema.json), so the two cannot drift apart.
 */
import { schemaDocument } from '../spec/index.js';

export type ValueKind = 'host' | 'path' | 'headerName' | 'headerValue' | 'cookieName' | 'queryName' | 'endpoint';

/** Where each form is defined in the schema. */
const SCHEMA_PLACES: Readonly<Record<ValueKind, readonly string[]>> = {
  host: ['definitions', 'match', 'properties', 'host'],
  path: ['definitions', 'match', 'properties', 'pathPrefix'],
  headerName: ['definitions', 'headerName'],
  headerValue: ['definitions', 'headerValue'],
  cookieName: ['definitions', 'cookieName'],
  queryName: ['definitions', 'queryName'],
  endpoint: ['definitions', 'endpoint'],
};

let forms: Record<ValueKind, { re: RegExp; message: string }> | undefined;

/** The pattern and message of each form, taken from the schema on first use. */
export function valueForms(): Readonly<Record<ValueKind, { re: RegExp; message: string }>> {
  forms ??= Object.fromEntries(
    Object.entries(SCHEMA_PLACES).map(([kind, place]) => {
      const node = place.reduce<unknown>((n, key) => (n as Record<string, unknown>)[key], schemaDocument()) as { pattern: string; errorMessage: string };
      return [kind, { re: new RegExp(node.pattern), message: node.errorMessage }];
    }),
  ) as Record<ValueKind, { re: RegExp; message: string }>;
  return forms;
}

/** A Kubernetes Service or namespace name (an RFC 1123 DNS label), which its cluster DNS name is made of. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Why `namespace/name` port `port` has no cluster DNS endpoint; undefined when it has one. */
export function k8sServiceProblem(namespace: string, name: string, port: number | string | undefined): string | undefined {
  if (!DNS_LABEL.test(name)) return `Service name ${JSON.stringify(name)} is not a Kubernetes Service name (a DNS label: lower-case letters, digits and '-', at most 63), so it has no cluster DNS name to use as endpoint; pass endpoints ${name}=URL`;
  if (!DNS_LABEL.test(namespace)) return `namespace ${JSON.stringify(namespace)} is not a Kubernetes namespace name (a DNS label), so Service ${name} has no cluster DNS name to use as endpoint; pass endpoints ${namespace}/${name}=URL`;
  if (typeof port === 'number' && !(Number.isInteger(port) && port >= 1 && port <= 65535)) return `Service port ${port} is not a port number (1 to 65535)`;
  return undefined;
}

/**
 * Why graylane would refuse `value` as a `kind`, as the loader says it; undefined when it is fine.
 *
 * @example
 * valueProblem('host', 'web.example.com:8080')
 * // 'must be a host name without port (prod.example.com) or a wildcard (*.example.com), got "web.example.com:8080"'
 */
export function valueProblem(kind: ValueKind, value: string): string | undefined {
  const form = valueForms()[kind];
  if (form.re.test(value)) return undefined;
  return `${form.message}, got ${JSON.stringify(value)}`;
}
