import { createApp } from '../src/app.ts';
import { createPool } from '../src/db.ts';
import { createLogger } from '../src/logger.ts';

export type OpenApiDocument = Record<string, any>;

/**
 * The app's own /openapi.json, built in-process. The pool is never queried
 * (the document route does not touch the database), and creating it does not connect.
 */
export async function loadOpenApiDocument(): Promise<OpenApiDocument> {
  const sql = createPool({ databaseUrl: 'postgres://unused@127.0.0.1:1/unused', poolMax: 1 });
  try {
    const app = createApp({ sql, logger: createLogger('silent') });
    const res = await app.request('/openapi.json');
    if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}`);
    return (await res.json()) as OpenApiDocument;
  } finally {
    await sql.end({ timeout: 0 });
  }
}
