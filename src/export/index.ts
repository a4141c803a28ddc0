/**
 * Exporters: a graylane spec written as another system's config (`graylane export FORMAT`). Each
 * is pure (spec in, text and warnings out) and registered here by its format name.
 */
import type { Spec } from '../spec/types.js';
import { exportGatewayApi } from './gateway-api.js';
import { exportNginx, type ExportIssue } from './nginx.js';

export { exportNginx, ExportError, type ExportIssue, type ExportResult, type NginxExportOptions } from './nginx.js';

/** Options any exporter may read; each reads the ones it documents. */
export interface ExportOptions {
  /** Where the exported proxy listens (nginx: its `listen`). */
  listen?: string;
  /** nginx: proxy_cache_path of the decision cache. */
  cacheDir?: string;
  /** The config file, named in the output's header comment. */
  source?: string;
  /** nginx: the Lua tier (decisions cached and outcomes counted inside nginx). */
  lua?: boolean;
  /** nginx --lua: a file holding the report token. */
  reportTokenFile?: string;
  /** gateway-api: metadata.namespace of the HTTPRoutes. */
  namespace?: string;
  /** gateway-api: the Gateway the HTTPRoutes attach to (parentRefs). */
  gateway?: string;
}

export type Exporter = (spec: Spec, opts: ExportOptions) => { text: string; warnings: ExportIssue[] };

/** Format name -> exporter. One line per format. */
export const EXPORTERS: Readonly<Record<string, Exporter>> = Object.freeze({
  'gateway-api': (spec: Spec, opts: ExportOptions) => {
    const { yaml, warnings } = exportGatewayApi(spec, { ...(opts.namespace ? { namespace: opts.namespace } : {}), ...(opts.gateway ? { gateway: opts.gateway } : {}) });
    return { text: yaml, warnings: warnings.map((w) => ({ key: w.path, message: w.message })) };
  },
  nginx: exportNginx,
});
