/**
 * The forms graylane's loader requires of the values an import copies from its sources (hosts,
 * paths, header / cookie / query names, endpoint URLs), checked where the value is read, so a value
 * graylane would refuse is an error at its place in the input (file, document, key path) rather than
 * an invalid output. The patterns and messages are the schema's (schema/graylane.schema.json);
 * values.test.ts checks that they stay the same.
 */

export type ValueKind = 'host' | 'path' | 'headerName' | 'headerValue' | 'cookieName' | 'queryName' | 'endpoint';

export const VALUE_FORMS: Readonly<Record<ValueKind, { pattern: string; message: string }>> = {
  host: {
    pattern: '^(\\*\\.)?[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$|^\\[[0-9A-Fa-f:.]+\\]$',
    message: 'must be a host name without port (prod.example.com) or a wildcard (*.example.com)',
  },
  path: { pattern: '^/[^?#\\s]*$', message: "must be a path starting with '/' (no query or spaces)" },
  headerName: { pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", message: "must be an HTTP header name (letters, digits and !#$%&'*+.^_`|~-)" },
  headerValue: { pattern: '^[\\t\\x20-\\x7e\\x80-\\xff]*$', message: 'must be a header value: a string without line breaks or control characters' },
  cookieName: { pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", message: "must be a cookie name (letters, digits and !#$%&'*+.^_`|~-)" },
  queryName: { pattern: '^[^\\s&=#]+$', message: "must be a query parameter name (no spaces, '&', '=' or '#')" },
  endpoint: {
    pattern: '^[hH][tT][tT][pP][sS]?://[^\\s/?#@]+(/[^\\s?#]*)?$',
    message:
      'must be an absolute http:// or https:// URL with a host, e.g. http://127.0.0.1:9001 (a path prefix is allowed; no query, fragment or credentials)',
  },
};

const compiled = Object.fromEntries(Object.entries(VALUE_FORMS).map(([k, f]) => [k, new RegExp(f.pattern)])) as Record<ValueKind, RegExp>;

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
  if (compiled[kind].test(value)) return undefined;
  return `${VALUE_FORMS[kind].message}, got ${JSON.stringify(value)}`;
}
