import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createApp, type App } from '../src/app.ts';
import { checkedApp } from './support/contract.ts';
import { freePort } from '../src/cli/embedded-postgres.ts';
import { createPool, type Pool } from '../src/db.ts';
import { createLogger } from '../src/logger.ts';
import { createTestApp, type TestApp } from './support/app.ts';
import { within } from './support/time.ts';

/** The service's app on a pool whose database is at `port`. */
function appOnPort(port: number): { app: App; sql: Pool } {
  const sql = createPool({ databaseUrl: `postgres://inventory:secret@127.0.0.1:${port}/inventory`, poolMax: 2 });
  return { app: checkedApp(createApp({ sql, logger: createLogger('silent') })), sql };
}

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe('health: database up', () => {
  test('GET /healthz answers 200 {status: "ok"}', async () => {
    const res = await t.request('/healthz');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toStartWith('application/json');
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  test('GET /readyz answers 200 {status: "ok"} when the database answers', async () => {
    const res = await t.request('/readyz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });
});

describe('health: database down', () => {
  let closed: { app: App; sql: Pool };
  let silent: { app: App; sql: Pool };
  let silentServer: Bun.TCPSocketListener<undefined>;

  beforeAll(async () => {
    closed = appOnPort(await freePort());
    // Accepts connections and never says a word, like a database host that hangs.
    silentServer = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
    silent = appOnPort(silentServer.port);
  });
  afterAll(async () => {
    await closed?.sql.end({ timeout: 0 });
    await silent?.sql.end({ timeout: 0 });
    silentServer?.stop(true);
  });

  test('GET /readyz answers 503 within 3 s when nothing listens on the database port', async () => {
    const res = await within(3000, closed.app.request('/readyz'));
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'unavailable' });
  });

  test('GET /readyz answers 503 within 4 s when the database accepts connections but never answers', async () => {
    const res = await within(4000, silent.app.request('/readyz'));
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'unavailable' });
  });

  test('GET /healthz still answers 200 {status: "ok"}: liveness does not touch the database', async () => {
    const res = await within(1000, closed.app.request('/healthz'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });
});
