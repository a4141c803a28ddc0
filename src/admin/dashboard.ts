/**
 * The dashboard's files (built by Vite from web/ into dist/web) served by the admin listener at `/`.
 *
 * The files are read once at startup into memory and each becomes one exact route: a URL either is
 * one of those files or is a 404, so no request path ever reaches the file system (no directory
 * traversal, encoded or not). Hashed files under assets/ are cached for a year (`immutable`); the
 * rest (index.html) are revalidated with their ETag on every load, so a new build shows at once.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ApiRoute } from './server.js';

/** dist/web, seen from this file compiled into dist/src/admin/. */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** What the page may load and do: only its own files and the admin API of its own origin. */
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

interface Asset {
  body: Buffer;
  headers: Record<string, string>;
}

/**
 * Routes for every file of the built dashboard in `dir` (`/` is index.html). Without a build, `/`
 * answers 503 with how to make one.
 */
export function dashboardRoutes(dir: string = DEFAULT_DASHBOARD_DIR): ApiRoute[] {
  const assets = loadAssets(dir);
  const index = assets.get('index.html');
  if (index === undefined) {
    const text = `The dashboard is not built (no index.html in ${dir}). Run \`npm run build\`.\n`;
    return [
      {
        method: 'GET',
        path: '/',
        access: 'read',
        handle: (_req, res) => {
          res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
          res.end(text);
          return { handled: true };
        },
      },
    ];
  }
  const routes: ApiRoute[] = [route('/', index)];
  for (const [path, asset] of assets) {
    // The admin router reads `:name` as a parameter; build output never has such names.
    if (!path.includes(':')) routes.push(route(`/${path}`, asset));
  }
  return routes;
}

function route(path: string, asset: Asset): ApiRoute {
  return {
    method: 'GET',
    path,
    access: 'read',
    handle(req, res) {
      if (req.raw.headers['if-none-match'] === asset.headers.etag) {
        res.writeHead(304, { etag: asset.headers.etag!, 'cache-control': asset.headers['cache-control']! });
        res.end();
      } else {
        res.writeHead(200, asset.headers);
        res.end(asset.body);
      }
      return { handled: true };
    },
  };
}

/** Every file under `dir` by its path relative to it, with `/` separators. */
function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) {
        walk(full);
        continue;
      }
      const path = relative(dir, full).split(sep).join('/');
      const body = readFileSync(full);
      const type = CONTENT_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
      const headers: Record<string, string> = {
        'content-type': type,
        'content-length': String(body.length),
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        // Vite names everything under assets/ by content hash: a changed file is a new URL.
        'cache-control': path.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
        'x-content-type-options': 'nosniff',
      };
      if (type.startsWith('text/html')) {
        headers['content-security-policy'] = CSP;
        headers['x-frame-options'] = 'DENY';
        headers['referrer-policy'] = 'no-referrer';
      }
      assets.set(path, { body, headers });
    }
  };
  walk(dir);
  return assets;
}
