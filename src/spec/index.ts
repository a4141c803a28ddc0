/**
 * The spec module: the config model (types.ts) and its loader. Nothing else in graylane parses
 * config; the gateway, the CLI and the hot-reload watcher call parseSpec / loadSpecFile.
 */
export type * from './types.js';
export { ConfigError, formatIssues, ISSUE_CODES, type ConfigIssue, type IssueCode } from './errors.js';
export { loadSpecFile, readSpecFile, parseSpec, unreadableConfig } from './load.js';
export { ConfigFileError, MAX_CONFIG_BYTES, readConfigText } from './config-file.js';
export { SCHEMA_FILE, schemaDocument } from './schema.js';
export { LISTEN_FORM, parseDuration, parseListen, parseSize } from './units.js';
