/**
 * graylane as a library: what `graylane serve` runs, for embedding the gateway in a program of your
 * own, and the config loader the CLI uses. The lanes SDK for services is its own package,
 * `@graylane/lanes` (packages/lanes).
 *
 * @example
 * import pino from 'pino';
 * import { startApp } from 'graylane';
 * const app = await startApp({ configFile: 'graylane.yaml', logger: pino(), adminToken: process.env.GRAYLANE_ADMIN_TOKEN });
 * process.once('SIGTERM', () => void app.close());
 */
export { startApp, type App, type AppOptions } from './app.js';
export { ConfigError, loadSpecFile, parseSpec, type Spec } from './spec/index.js';
