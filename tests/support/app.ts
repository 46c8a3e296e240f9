import { createApp, type App } from '../../src/app.ts';
import { createLogger } from '../../src/logger.ts';
import { checkedApp, documentedFetch } from './contract.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

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
  const app = checkedApp(createApp({ sql: db.sql, logger: createLogger(level) }));
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
    close: () => db.drop(),
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
