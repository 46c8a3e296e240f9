import { swaggerUI } from '@hono/swagger-ui';
import type { Hono } from 'hono';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AppEnv } from './context.ts';

const ASSET_BASE = '/docs/assets';
const assets: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

/** Where the explorer lives: its page, its assets, and whatever else is asked for below it. */
export const DOCS_AREA = '/docs';

/**
 * The interactive explorer at /docs. Its scripts and styles are served from
 * the swagger-ui-dist package installed with the service, so it works offline.
 * Returns the paths of its routes (GET only, outside the OpenAPI document).
 */
export function mountDocs(app: Hono<AppEnv>, specUrl: string): string[] {
  const dir = dirname(Bun.resolveSync('swagger-ui-dist/package.json', import.meta.dir));
  const cache = new Map<string, Uint8Array>();
  const assetPath = `${ASSET_BASE}/swagger-ui-dist/:file`;
  app.get(assetPath, (c) => {
    const file = c.req.param('file');
    const type = assets[file];
    if (!type) return c.notFound();
    let bytes = cache.get(file);
    if (!bytes) {
      bytes = readFileSync(join(dir, file));
      cache.set(file, bytes);
    }
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
      'content-type': type,
      'cache-control': 'public, max-age=86400',
    });
  });
  app.get(
    DOCS_AREA,
    swaggerUI({
      url: specUrl,
      baseUrl: ASSET_BASE,
      title: 'Inventory API',
      tryItOutEnabled: true,
      displayRequestDuration: true,
      persistAuthorization: true,
    }),
  );
  return [DOCS_AREA, assetPath];
}
