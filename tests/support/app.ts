import { createApp, type App } from '../../src/app.ts';
import { createPool } from '../../src/db.ts';
import { createLogger } from '../../src/logger.ts';
import { checkedApp, documentedFetch } from './contract.ts';
import { createTestDatabase, type TestDatabase, throughPooler } from './db.ts';

export type TestApp = {
  app: App;
  db: TestDatabase;
  /** Sends a request through the app, as a client would; the response must be as /openapi.json documents it. */
  request: (path: string, init?: RequestInit) => Promise<Response>;
  /** POSTs a JSON body. */
  post: (path: string, body: unknown, headers?: Record<string, string>) => Promise<Response>;
  close: () => Promise<void>;
};

/** The service's own app on a fresh test database. Logs are silent unless TEST_LOG_LEVEL is set. */
export async function createTestApp(options: { poolMax?: number } = {}): Promise<TestApp> {
  const db = await createTestDatabase(options);
  const level = (process.env.TEST_LOG_LEVEL ?? 'silent') as 'silent';
  // Through a pooler in transaction mode (TEST_POOLER_PORT), the app's pool and settings are those
  // the service runs with there; the test's own connections (db.sql: fixtures, locks held on
  // purpose, checks) stay direct, like another process's.
  const pooled = throughPooler(db.url);
  const poolMax = options.poolMax ?? 10;
  const sql = pooled ? createPool({ databaseUrl: pooled.url, poolMax, dbPrepare: pooled.prepare }, 'inventory-test') : db.sql;
  const config = pooled && { dbPrepare: pooled.prepare, eventsListen: pooled.prepare };
  const app = checkedApp(createApp({ sql, logger: createLogger(level), ...(config && { config }) }));
  const request = async (path: string, init?: RequestInit) => app.request(path, init);
  return {
    app,
    db,
    request,
    post: (path, body, headers = {}) =>
      request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      }),
    close: async () => {
      if (sql !== db.sql) await sql.end({ timeout: 5 });
      await db.drop();
    },
  };
}

/**
 * Serves the app on a real socket on 127.0.0.1 (for concurrency tests). Its
 * `fetch` takes a path and checks every response against /openapi.json.
 */
export function listen(app: App) {
  const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: app.fetch });
  const base = `http://127.0.0.1:${server.port}`;
  return {
    base,
    fetch: (path: string, init?: RequestInit) => documentedFetch(base + path, init),
    stop: () => server.stop(true),
  };
}
