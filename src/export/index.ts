/**
 * Exporters: a graylane spec written as another system's config (`graylane export FORMAT`). Each
 * is pure (spec in, text and warnings out) and registered here by its format name.
 */
import type { Spec } from '../spec/types.js';
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
}

export type Exporter = (spec: Spec, opts: ExportOptions) => { text: string; warnings: ExportIssue[] };

/** Format name -> exporter. One line per format. */
export const EXPORTERS: Readonly<Record<string, Exporter>> = Object.freeze({
  nginx: exportNginx,
});
