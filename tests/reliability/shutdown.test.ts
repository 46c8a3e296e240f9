import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { documentedFetch } from '../support/contract.ts';
import { HEADER_SIZE_FLAG } from '../../src/server.ts';

// `bun src/server.ts` receives SIGTERM while 200 requests are in flight: it must
// stop accepting connections at once, answer every request it already has,
// and exit 0 soon after.

const root = join(import.meta.dir, '../..');
const REQUESTS = 200;

let db: TestDatabase;
let sql: postgres.Sql;
let proc: Bun.Subprocess<'ignore', 'pipe', 'pipe'> | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  sql = postgres(db.url, { max: 2, onnotice: () => {} });
  await sql`INSERT INTO categories (name) VALUES ('Shutdown')`;
});

afterAll(async () => {
  if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  await sql?.end({ timeout: 5 });
  await db?.drop();
});

/** Polls `condition` every 20 ms until it holds or `timeoutMs` pass. */
async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await Bun.sleep(20);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * The server's TCP state from /proc/net/tcp: connections it holds on `port`,
 * and connections the kernel accepted that the server has not picked up yet.
 */
function tcpState(port: number): { established: number; backlog: number } {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let established = 0;
  let backlog = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [, localAddress, , state, , queues] = line.trim().split(/\s+/);
    if (localAddress !== local) continue;
    if (state === '01') established++;
    if (state === '0A') backlog = parseInt(queues!.split(':')[1]!, 16); // rx_queue of a listener: its accept queue
  }
  return { established, backlog };
}

/** A fetch on a fresh connection: how the status of the listener is seen, not of a kept-alive socket. */
const probe = (url: string) => documentedFetch(url, { keepalive: false, signal: AbortSignal.timeout(2000) });

describe('graceful shutdown on SIGTERM', () => {
  test('every in-flight request is answered 2xx, new connections are refused at once, and the process exits 0 within 10 s', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    proc = Bun.spawn(['bun', HEADER_SIZE_FLAG, 'src/server.ts'], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: db.url,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        // Requests queue for a connection while the table is locked; the test is about shutdown, not the pool wait.
        DB_POOL_WAIT_MS: '10000',
      },
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
    });
    await waitUntil(
      'the server to be ready',
      () =>
        probe(`${base}/readyz`).then(
          (r) => r.status === 200,
          () => false,
        ),
      10_000,
    );

    // Writes to products wait on this lock, so the requests are still running when SIGTERM arrives.
    const locker = await sql.reserve();
    await locker`BEGIN`;
    await locker`LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE`;
    const lockerPid = (await locker<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid;
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await locker`COMMIT`;
      locker.release();
    };

    try {
      const inFlight = Array.from({ length: REQUESTS }, (_, i) =>
        (i % 2
          ? documentedFetch(`${base}/products?limit=5`, { signal: AbortSignal.timeout(15_000) })
          : documentedFetch(`${base}/products`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ name: `In flight ${i}`, sku: `FLIGHT-${i}`, price: 3, category: 'Shutdown' }),
              signal: AbortSignal.timeout(15_000),
            })
        ).then(
          async (res) => ({ i, status: res.status, body: await res.text() }),
          (error: Error) => ({ i, status: 0, body: error.message }),
        ),
      );

      // Every pooled connection is stuck behind the lock, and the server has picked up every connection.
      // (Polled outside the locking transaction: inside one, pg_stat_activity is a snapshot taken once.)
      await waitUntil('the pool to be stuck on the lock', async () => {
        const [row] = await sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${lockerPid} = ANY(pg_blocking_pids(pid))`;
        return row!.n === 10;
      });
      await waitUntil(`${REQUESTS} connections to be accepted`, () => {
        const { established, backlog } = tcpState(port);
        return established >= REQUESTS && backlog === 0;
      });

      const signalled = performance.now();
      proc.kill('SIGTERM');

      // It stops listening while the requests are still running.
      let refusedAfterMs = -1;
      await waitUntil(
        'new connections to be refused',
        async () => {
          const refused = await probe(`${base}/healthz`).then(
            () => false,
            () => true,
          );
          if (refused) refusedAfterMs = performance.now() - signalled;
          return refused;
        },
        3000,
      );
      expect(refusedAfterMs).toBeLessThan(1000);
      expect(proc.exitCode).toBeNull();

      await release();
      const results = await Promise.all(inFlight);
      const failed = results
        .filter((r) => r.status < 200 || r.status >= 300)
        .map((r) => `#${r.i}: ${r.status} ${r.body.slice(0, 120)}`);
      expect(failed).toEqual([]);
      expect(results.filter((r) => r.status === 201).length).toBe(REQUESTS / 2);

      const exitCode = await Promise.race([proc.exited, Bun.sleep(10_000).then(() => 'still running')]);
      const exitedAfterMs = performance.now() - signalled;
      expect({ exitCode, stderr: proc.exitCode === null ? '' : await new Response(proc.stderr).text() }).toEqual({
        exitCode: 0,
        stderr: '',
      });
      expect(exitedAfterMs).toBeLessThan(10_000);
    } finally {
      await release();
    }

    const [row] = await sql`SELECT count(*)::int AS n FROM products WHERE sku LIKE 'FLIGHT-%'`;
    expect(row!.n).toBe(REQUESTS / 2);
  }, 30_000);
});
