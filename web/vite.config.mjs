// Builds the dashboard (web/) into dist/web, which the admin listener serves at `/`
// (src/admin/dashboard.ts). `npm run dev:web` serves it with the admin API of a local
// `graylane serve` (GRAYLANE_ADMIN, default http://127.0.0.1:9090) behind Vite's proxy.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const admin = process.env.GRAYLANE_ADMIN ?? 'http://127.0.0.1:9090';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Relative URLs: the page also works behind a reverse proxy that mounts the admin API under a prefix.
  base: './',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // Every asset is a file of its own: the page's Content-Security-Policy allows only 'self'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: { proxy: { '/api': admin, '/metrics': admin } },
});
