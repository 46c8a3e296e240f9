import { afterAll, describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import { createTestDatabase } from '../support/db.ts';
import { documentedFetch } from '../support/contract.ts';
import { HEADER_SIZE_FLAG } from '../../src/server.ts';

// Processes die without warning: PostgreSQL under the embedded default, or one
// of the server's database sessions. Committed data must survive, and the API
// process must not die with them.

const root = join(import.meta.dir, '../..');
const dataDir = mkdtempSync(join(tmpdir(), 'inventory-crash-'));
chmodSync(dataDir, 0o755); // PostgreSQL runs as the postgres user when the suite runs as root
const pgdata = join(dataDir, 'postgres', 'pgdata');
const spawned: Bun.Subprocess[] = [];

afterAll(async () => {
  for (const proc of spawned) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  await Promise.all(spawned.map((p) => p.exited));
  for (const pid of clusterProcesses()) kill(pid, 'SIGKILL');
  await waitUntil('the cluster processes to be gone', () => clusterProcesses().length === 0).catch(() => {});
  rmSync(dataDir, { recursive: true, force: true });
}, 20_000);

async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await Bun.sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Every process working in our data directory: the postmaster and its children, which chdir there. */
function clusterProcesses(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/cwd`) === pgdata;
      } catch {
        return false;
      }
    });
}

const ready = (base: string) =>
  documentedFetch(`${base}/readyz`, { keepalive: false, signal: AbortSignal.timeout(3000) }).then(
    (r) => r.status,
    () => 0,
  );

function startStack(pgPort: number, apiPort: number) {
  const proc = Bun.spawn(['bun', 'src/cli/stack.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      INVENTORY_DATA_DIR: dataDir,
      PGPORT: String(pgPort),
      PORT: String(apiPort),
      LOG_LEVEL: 'warn',
    },
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
  });
  spawned.push(proc);
  return proc;
}

async function waitReady(proc: Bun.Subprocess<'ignore', 'ignore', 'pipe'>, base: string): Promise<void> {
  await waitUntil(
    `${base} to be ready`,
    async () => {
      if (proc.exitCode !== null)
        throw new Error(`the stack exited (${proc.exitCode}): ${await new Response(proc.stderr).text()}`);
      return (await ready(base)) === 200;
    },
    30_000,
  );
}

function json(init: { method: string; body?: unknown }): RequestInit {
  return {
    method: init.method,
    headers: { 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(5000),
  };
}

describe('crash safety: the embedded PostgreSQL killed with SIGKILL', () => {
  test('the stack starts again on the same data and ports, and committed writes are intact', async () => {
    const pgPort = await freePort();
    const apiPort = await freePort();
    const base = `http://127.0.0.1:${apiPort}`;

    const first = startStack(pgPort, apiPort);
    await waitReady(first, base);
    const created = await documentedFetch(
      `${base}/products`,
      json({ method: 'POST', body: { name: 'Survives a crash', sku: 'CRASH-1', price: 4.2, quantity: 7 } }),
    );
    expect(created.status).toBe(201);
    const product = (await created.json()) as { id: number };
    const adjusted = await documentedFetch(
      `${base}/products/${product.id}/stock-adjustments`,
      json({ method: 'POST', body: { delta: -2, reason: 'sold' } }),
    );
    expect(adjusted.status).toBe(201);

    const postmaster = Number(readFileSync(join(pgdata, 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(clusterProcesses()).toContain(postmaster);
    process.kill(postmaster, 'SIGKILL');
    await waitUntil('the postmaster to be gone', () => !alive(postmaster));
    // The API sees its database gone.
    await waitUntil('/readyz to answer 503', async () => (await ready(base)) === 503);

    // Its shutdown may wait forever on the dead PostgreSQL; that is not what this test is about.
    first.kill('SIGTERM');
    const stopped = await Promise.race([first.exited.then(() => true), Bun.sleep(3000).then(() => false)]);
    if (!stopped) first.kill('SIGKILL');
    await first.exited;
    // The postmaster's children notice its death and exit; a new postmaster refuses to start while they live.
    await waitUntil('the orphaned PostgreSQL processes to exit', () => clusterProcesses().length === 0);
    expect(existsSync(join(pgdata, 'postmaster.pid'))).toBe(true); // stale, left by the crash

    const second = startStack(pgPort, apiPort);
    await waitReady(second, base);
    const again = await documentedFetch(`${base}/products/${product.id}`, { signal: AbortSignal.timeout(5000) });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({
      id: product.id,
      sku: 'CRASH-1',
      name: 'Survives a crash',
      price: 4.2,
      quantity: 5,
    });
    const movements = await documentedFetch(`${base}/products/${product.id}/stock-movements`, {
      signal: AbortSignal.timeout(5000),
    });
    expect(((await movements.json()) as { delta: number }[]).map((m) => m.delta)).toEqual([-2, 7]);

    second.kill('SIGTERM');
    expect(await Promise.race([second.exited, Bun.sleep(10_000).then(() => 'still running')])).toBe(0);
    expect(clusterProcesses()).toEqual([]);
  }, 60_000);
});

describe('crash safety: a database session killed mid-request', () => {
  test('the server answers 503, stays up, keeps serving, and still shuts down cleanly', async () => {
    const db = await createTestDatabase();
    const sql = postgres(db.url, { max: 3, onnotice: () => {} });
    let proc: Bun.Subprocess<'ignore', 'ignore', 'pipe'> | undefined;
    try {
      const [category] = await sql`INSERT INTO categories (name) VALUES ('Killed') RETURNING id`;
      const [row] = await sql`
        INSERT INTO products (sku, name, price, category_id) VALUES ('KILL-1', 'Killed session', 1, ${category!.id}) RETURNING id`;
      const id = row!.id as number;
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      proc = Bun.spawn(['bun', HEADER_SIZE_FLAG, 'src/server.ts'], {
        cwd: root,
        env: { PATH: process.env.PATH, DATABASE_URL: db.url, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
        stdin: 'ignore',
        stdout: 'ignore',
        stderr: 'pipe',
      });
      spawned.push(proc);
      await waitUntil('the server to be ready', async () => (await ready(base)) === 200);

      // A PATCH runs in a transaction; it waits on this row lock until its session is terminated.
      const locker = await sql.reserve();
      await locker`BEGIN`;
      await locker`SELECT id FROM products WHERE id = ${id} FOR UPDATE`;
      const lockerPid = (await locker<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid;
      const patch = documentedFetch(`${base}/products/${id}`, json({ method: 'PATCH', body: { description: 'never written' } }));
      let victim: number | undefined;
      await waitUntil('the PATCH to wait on the lock', async () => {
        const [blocked] = await sql`SELECT pid FROM pg_stat_activity WHERE ${lockerPid} = ANY(pg_blocking_pids(pid))`;
        victim = blocked?.pid as number | undefined;
        return victim !== undefined;
      });
      await sql`SELECT pg_terminate_backend(${victim!})`;
      const res = await patch;
      await locker`ROLLBACK`;
      locker.release();
      expect(res.status).toBe(503);
      expect(((await res.json()) as { code: string }).code).toBe('database_unavailable');

      // Keep using it for a while: the process must not die of the lost session.
      const statuses: (number | string)[] = [];
      for (let n = 0; n < 15; n++) {
        statuses.push(
          await documentedFetch(`${base}/products/${id}`, { signal: AbortSignal.timeout(3000) }).then(
            (r) => r.status,
            (e: Error) => e.name,
          ),
        );
        await Bun.sleep(100);
      }
      const exited = proc.exitCode === null ? '' : `exited ${proc.exitCode}: ${await new Response(proc.stderr).text()}`;
      expect(exited).toBe('');
      expect(statuses).toEqual(statuses.map(() => 200));
      const [after] = await sql`SELECT description FROM products WHERE id = ${id}`;
      expect(after!.description).toBeNull();

      proc.kill('SIGTERM');
      expect(await Promise.race([proc.exited, Bun.sleep(10_000).then(() => 'still running')])).toBe(0);
    } finally {
      if (proc && proc.exitCode === null) proc.kill('SIGKILL');
      await sql.end({ timeout: 5 });
      await db.drop();
    }
  }, 30_000);
});
