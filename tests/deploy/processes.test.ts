import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { documentedFetch } from '../support/contract.ts';
import { HEADER_SIZE_FLAG } from '../../src/server.ts';
import { type Proc, spawnServer } from '../support/processes.ts';

// WEB_CONCURRENCY=2: two server processes share one port; they hold no state of their own.
let db: TestDatabase;
let proc: Proc['proc'];
let base: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const port = await freePort();
  ({ proc } = spawnServer('the server', {
    DATABASE_URL: db.url,
    PORT: String(port),
    LOG_LEVEL: 'warn',
    WEB_CONCURRENCY: '2',
    DB_POOL_MAX: '5',
  }));
  base = `http://127.0.0.1:${port}`;
  // Ready when both processes listen on the port.
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && listeners(port) < 2) await Bun.sleep(50);
});

afterAll(async () => {
  proc?.kill('SIGTERM');
  await proc?.exited;
  await db?.drop();
});

/** Sockets listening on 127.0.0.1:port, from the kernel's table. */
function listeners(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .filter((l) => {
      const cols = l.trim().split(/\s+/);
      return cols[1] === local && cols[3] === '0A';
    }).length;
}

const childrenOf = (pid: number) =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

describe('WEB_CONCURRENCY=2', () => {
  test('runs a second server process on the same port', () => {
    expect(childrenOf(proc.pid)).toHaveLength(1);
    expect(listeners(Number(new URL(base).port))).toBe(2);
  });

  test('both processes serve, and concurrent stock changes across them stay exact', async () => {
    const created = await documentedFetch(`${base}/products`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Shared across processes', price: 2, quantity: 60 }),
    });
    const { id } = (await created.json()) as { id: number };
    // Separate connections (no keep-alive reuse), so the kernel spreads them over both processes.
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        documentedFetch(`${base}/products/${id}/stock-adjustments`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', connection: 'close' },
          body: JSON.stringify({ delta: -1, reason: 'sold' }),
        }).then((r) => r.status),
      ),
    );
    expect(results.filter((s) => s === 201)).toHaveLength(60);
    expect(results.filter((s) => s === 409)).toHaveLength(40);
    const [row] = await db.sql<{ quantity: number; ledger: number; apps: number }[]>`
      SELECT quantity, (SELECT sum(delta)::int FROM stock_movements WHERE product_id = ${id}) AS ledger,
             (SELECT count(DISTINCT client_port)::int FROM pg_stat_activity WHERE application_name = 'inventory-api') AS apps
      FROM products WHERE id = ${id}`;
    expect(row).toMatchObject({ quantity: 0, ledger: 0 });
    // Each process keeps its own pool open: more connections than one process of pool size 5 could hold.
    expect(row!.apps).toBeGreaterThan(5);
  });

  test('the second process gets the header limit of the first, so its heads up to 64 KiB reach the API too', () => {
    const child = childrenOf(proc.pid)[0]!;
    const args = readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0');
    expect(args).toContain(HEADER_SIZE_FLAG);
  });

  test('SIGTERM stops both processes', async () => {
    const child = childrenOf(proc.pid)[0]!;
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(() => process.kill(child, 0)).toThrow();
  });
});
