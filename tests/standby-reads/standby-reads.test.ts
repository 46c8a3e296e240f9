/**
 * Reads on standbys (DATABASE_READ_URL, src/db-read.ts), on a PostgreSQL 15
 * primary and its hot standby (tests/failover/cluster.ts), through real server
 * processes: A writes; B and C read through the standby.
 *   B: DB_READ_MAX_LAG_MS=300, polled every 50 ms (the lag bound matters);
 *   C: a bound of an hour, polled every 10 s (its view of the standby is old
 *      on purpose: it still thinks the standby is there after it is stopped).
 * Which server answered a read is seen in the data: while the standby's replay
 * is paused (`pg_wal_replay_pause()`), a row changed on the primary has its
 * old value only on the standby.
 * Skipped when the PostgreSQL 15 binaries are missing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import postgres from 'postgres';
import { withDatabase } from '../../src/cli/database-url.ts';
import { dbmate } from '../../src/cli/dbmate.ts';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import { provisionApiRole, provisionDatabase } from '../../src/cli/provision.ts';
import { createApp } from '../../src/app.ts';
import { createPool } from '../../src/db.ts';
import { parseLsn } from '../../src/db-read.ts';
import { createLogger } from '../../src/logger.ts';
import { HEADER_SIZE_FLAG } from '../../src/server.ts';
import { documentedFetch } from '../support/contract.ts';
import { type Cluster, PG15_AVAILABLE, SKIPPED, startCluster, waitFor } from '../failover/cluster.ts';

if (!PG15_AVAILABLE) {
  process.stderr.write(`tests/standby-reads: ${SKIPPED}\n`);
  test.skip(SKIPPED, () => {});
}
const pgTest = test.skipIf(!PG15_AVAILABLE);

const ROOT = join(import.meta.dir, '../..');
const B_MAX_LAG_MS = 300;

type Server = { proc: Bun.Subprocess<'ignore', 'ignore', 'pipe'>; base: string; stderr: () => string };

let cluster: Cluster;
/** Superuser connections to each node's inventory_db. */
let primaryDb: postgres.Sql;
let standbyDb: postgres.Sql;
let apiUrl: string;
let readUrl: string;
const servers: Server[] = [];
let A: Server;
let B: Server;
let C: Server;

async function startServer(env: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const proc = Bun.spawn(['bun', HEADER_SIZE_FLAG, 'src/server.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: apiUrl,
      PORT: String(port),
      LOG_LEVEL: 'error',
      DB_POOL_MAX: '4',
      DB_CONNECT_TIMEOUT_MS: '1000',
      ...env,
    },
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
  });
  let stderr = '';
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) stderr += decoder.decode(chunk);
  })();
  const server = { proc, base: `http://127.0.0.1:${port}`, stderr: () => stderr };
  servers.push(server);
  await waitFor('the server to listen', async () => {
    if (proc.exitCode !== null) throw new Error(`the server exited: ${stderr}`);
    return fetch(`${server.base}/healthz`).then(
      (r) => r.status === 200,
      () => false,
    );
  });
  return server;
}

/** db_reads_total of one server, by `server/reason`. */
async function readCounts(server: Server): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.base}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('db_reads_total{')) continue;
    const server = /server="(\w+)"/.exec(line)![1];
    const reason = /reason="(\w+)"/.exec(line)![1];
    counts[`${server}/${reason}`] = Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return counts;
}

/** How many more reads each server/reason counted since `before`. */
async function countedSince(server: Server, before: Record<string, number>): Promise<Record<string, number>> {
  const after = await readCounts(server);
  return Object.fromEntries(
    Object.entries(after)
      .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
      .filter(([, v]) => v > 0),
  );
}

async function lagSeconds(server: Server): Promise<number> {
  const text = await (await fetch(`${server.base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('db_read_standby_lag_seconds '));
  return Number(line!.split(' ')[1]);
}

const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function createProduct(name: string): Promise<{ id: number; token: string }> {
  const res = await documentedFetch(`${A.base}/products`, { method: 'POST', ...json({ name, price: 1, quantity: 5 }) });
  expect(res.status).toBe(201);
  const token = res.headers.get('consistency-token');
  expect(token).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
  return { id: ((await res.json()) as { id: number }).id, token: token! };
}

async function nameVia(server: Server, id: number, token?: string): Promise<string> {
  const res = await documentedFetch(`${server.base}/products/${id}`, token ? { headers: { 'consistency-token': token } } : {});
  expect(res.status).toBe(200);
  return ((await res.json()) as { name: string }).name;
}

/** Until the standby has replayed at least `token`. */
const replayedTo = (token: string) =>
  waitFor(`the standby to replay ${token}`, async () => {
    const [row] = await standbyDb<{ done: boolean }[]>`SELECT pg_last_wal_replay_lsn() >= ${token}::pg_lsn AS done`;
    return row!.done;
  });

async function primaryLsn(): Promise<string> {
  const [row] = await primaryDb<{ lsn: string }[]>`SELECT pg_current_wal_lsn()::text AS lsn`;
  return row!.lsn;
}

const pause = () => standbyDb`SELECT pg_wal_replay_pause()`;
const resume = () => standbyDb`SELECT pg_wal_replay_resume()`;

beforeAll(async () => {
  if (!PG15_AVAILABLE) return;
  cluster = await startCluster();
  const { a, b } = cluster;
  const ownerUrl = await provisionDatabase(cluster.adminUrl(a));
  await dbmate(ownerUrl, ['up'], true);
  apiUrl = await provisionApiRole(cluster.adminUrl(a));
  readUrl = apiUrl.replace(`:${a.port}/`, `:${b.port}/`);
  primaryDb = postgres(withDatabase(cluster.adminUrl(a), 'inventory_db'), { max: 1, onnotice: () => {} });
  standbyDb = postgres(withDatabase(cluster.adminUrl(b), 'inventory_db'), { max: 1, onnotice: () => {} });
  await replayedTo(await primaryLsn());
  A = await startServer({ DATABASE_READ_URL: readUrl });
  B = await startServer({
    DATABASE_READ_URL: readUrl,
    DB_READ_MAX_LAG_MS: String(B_MAX_LAG_MS),
    DB_READ_POLL_MS: '50',
    BACKGROUND_JOBS: 'false',
  });
  C = await startServer({
    DATABASE_READ_URL: readUrl,
    DB_READ_MAX_LAG_MS: '3600000',
    DB_READ_POLL_MS: '10000',
    BACKGROUND_JOBS: 'false',
  });
  // Each reader's first poll may have found the standby a little behind: until a later one, it reads from the primary.
  for (const server of [B, C]) {
    await waitFor('the reader to know the standby in sync', async () => (await lagSeconds(server)) < B_MAX_LAG_MS / 1000);
  }
}, 180_000);

afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) s.proc.kill('SIGTERM');
  await Promise.all(
    servers.map(async (s) => {
      const stopped = await Promise.race([s.proc.exited.then(() => true), Bun.sleep(10_000).then(() => false)]);
      if (!stopped) s.proc.kill('SIGKILL');
    }),
  );
  await Promise.all([primaryDb?.end({ timeout: 1 }), standbyDb?.end({ timeout: 1 })]);
  await cluster?.destroy();
}, 60_000);

describe('reads on a standby (DATABASE_READ_URL)', () => {
  pgTest('a write answers with a Consistency-Token at or after its commit record, taken once it committed', async () => {
    const admin = cluster.connect(cluster.a);
    try {
      await admin`CREATE EXTENSION IF NOT EXISTS pg_walinspect`;
      const start = await primaryLsn();
      // With an Idempotency-Key the product is written in a transaction that commits after the handler answered.
      const res = await documentedFetch(`${A.base}/products`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'token-after-commit' },
        body: JSON.stringify({ name: 'Token check', price: 1 }),
      });
      expect(res.status).toBe(201);
      const token = res.headers.get('consistency-token')!;
      const { id } = (await res.json()) as { id: number };
      // The product's row was written in a subtransaction: its commit record names it among its subxacts.
      const [{ xid } = { xid: '' }] = await primaryDb<{ xid: string }[]>`SELECT xmin::text AS xid FROM products WHERE id = ${id}`;
      const commits = await admin<{ end_lsn: string }[]>`
        SELECT end_lsn::text FROM pg_get_wal_records_info(${start}::pg_lsn, pg_current_wal_flush_lsn())
        WHERE resource_manager = 'Transaction' AND record_type LIKE 'COMMIT%'
          AND (xid::text = ${xid} OR description ~ ${`subxacts:.*\\m${xid}\\M`})`;
      expect(commits).toHaveLength(1);
      expect(parseLsn(token)! >= parseLsn(commits[0]!.end_lsn)!).toBe(true);
    } finally {
      await admin.end({ timeout: 1 });
    }
    // Writes that answer 4xx carry none.
    const refused = await documentedFetch(`${A.base}/products`, { method: 'POST', ...json({ name: '' }) });
    expect(refused.status).toBe(422);
    expect(refused.headers.get('consistency-token')).toBeNull();
  });

  pgTest('reads are served by the standby while it is in sync: a change it has not replayed is not seen', async () => {
    const { id, token } = await createProduct('Before');
    await replayedTo(token);
    await pause();
    try {
      await primaryDb`UPDATE products SET name = 'After' WHERE id = ${id}`;
      const before = await readCounts(C);
      expect(await nameVia(C, id)).toBe('Before');
      expect(await countedSince(C, before)).toEqual({ 'standby/in_sync': 1 });
      // Every read a standby may serve runs there as it is (a write or a row lock would fail on a standby).
      const reads = [
        '/products',
        '/products?q=Before',
        `/products/${id}/levels`,
        `/products/${id}/stock-movements`,
        '/categories',
        '/locations',
        '/locations/1',
        '/locations/1/levels',
        '/transfers',
        '/reservations',
        '/reservations/999999',
        '/reports/inventory',
        '/events?after=0',
      ];
      const statuses = await Promise.all(reads.map((path) => documentedFetch(`${C.base}${path}`).then((r) => r.status)));
      expect(Object.fromEntries(reads.map((p, i) => [p, statuses[i]]))).toEqual({
        ...Object.fromEntries(reads.map((p) => [p, 200])),
        '/reservations/999999': 404,
      });
      expect(await countedSince(C, before)).toEqual({ 'standby/in_sync': reads.length + 1 });
    } finally {
      await resume();
    }
    // Once replayed, the standby has the change.
    await replayedTo(await primaryLsn());
    expect(await nameVia(C, id)).toBe('After');
  });

  pgTest(
    'read-your-writes: a write through A, then a read with its token through B, sees it while replay is paused',
    async () => {
      const { id, token: created } = await createProduct('Original');
      await replayedTo(created);
      await pause();
      try {
        const patched = await documentedFetch(`${A.base}/products/${id}`, { method: 'PATCH', ...json({ name: 'Renamed' }) });
        expect(patched.status).toBe(200);
        const token = patched.headers.get('consistency-token')!;
        expect(parseLsn(token)! > parseLsn(created)!).toBe(true);

        let before = await readCounts(B);
        expect(await nameVia(B, id, token)).toBe('Renamed');
        expect(await countedSince(B, before)).toEqual({ 'primary/token_ahead': 1 });

        // Without the token: once the paused standby lags more than the bound, it serves no read.
        await waitFor('B to see the standby lagging', async () => (await lagSeconds(B)) > B_MAX_LAG_MS / 1000);
        before = await readCounts(B);
        expect(await nameVia(B, id)).toBe('Renamed');
        expect(await countedSince(B, before)).toEqual({ 'primary/lagging': 1 });

        // With replay resumed, the standby serves again, the read with the token too.
        await resume();
        await replayedTo(token);
        await waitFor('B to see the standby in sync', async () => (await lagSeconds(B)) < B_MAX_LAG_MS / 1000);
        before = await readCounts(B);
        expect(await nameVia(B, id, token)).toBe('Renamed');
        expect(await nameVia(B, id)).toBe('Renamed');
        expect(await countedSince(B, before)).toEqual({ 'standby/in_sync': 2 });
      } finally {
        await resume();
      }
    },
  );

  pgTest('a token ahead of every server is served by the primary; one that is not a WAL position is refused', async () => {
    const { id, token } = await createProduct('Far ahead');
    await replayedTo(token);
    const before = await readCounts(B);
    expect(await nameVia(B, id, 'FFFFFFFF/FFFFFFFF')).toBe('Far ahead');
    expect(await countedSince(B, before)).toEqual({ 'primary/token_ahead': 1 });
    for (const bad of ['yesterday', '0/', '1/2/3', '123456789/0', '0/G', '-1/0']) {
      const res = await documentedFetch(`${B.base}/products/${id}`, { headers: { 'consistency-token': bad } });
      expect(res.status).toBe(422);
      const problem = (await res.json()) as { code: string; errors: { path: string }[] };
      expect(problem.code).toBe('validation_failed');
      expect(problem.errors).toEqual([expect.objectContaining({ path: 'consistency-token' })]);
    }
  });

  pgTest(
    'several read hosts: checked against the least advanced; one that does not answer sends every read to the primary',
    async () => {
      const { a, b } = cluster;
      const closedPort = await freePort(); // nothing listens there
      const hosts = (ports: number[]) =>
        apiUrl.replace(`127.0.0.1:${a.port}/`, `${ports.map((p) => `127.0.0.1:${p}`).join(',')}/`);
      const sql = createPool({ databaseUrl: apiUrl, poolMax: 2 }, 'standby-reads-test');
      const appWith = (databaseReadUrl: string) =>
        createApp({
          sql,
          config: { databaseUrl: apiUrl, databaseReadUrl, readPollMs: 50, readMaxLagMs: 60_000 },
          logger: createLogger('silent'),
        });
      const both = appWith(hosts([a.port, b.port]));
      const oneDown = appWith(hosts([b.port, closedPort]));
      try {
        const routing = both.readRouting!;
        await waitFor('the primary and the standby to be in sync', async () => {
          await routing.poll();
          return routing.decide(undefined) === 'in_sync';
        });
        await oneDown.readRouting!.poll();
        expect(oneDown.readRouting!.decide(undefined)).toBe('unavailable');

        await pause();
        try {
          const { id, token } = await createProduct('Least advanced');
          await routing.poll();
          // The primary, listed first, has the write; the paused standby does not: the token is ahead.
          expect(routing.decide(parseLsn(token))).toBe('token_ahead');
          const res = await both.request(`/products/${id}`, { headers: { 'consistency-token': token } });
          expect(res.status).toBe(200);
          await resume();
          await replayedTo(token);
          await routing.poll();
          expect(routing.decide(parseLsn(token))).toBe('in_sync');
        } finally {
          await resume();
        }
      } finally {
        await Promise.all([both.close(), oneDown.close()]);
        await sql.end({ timeout: 1 });
      }
    },
  );

  pgTest('the standby down: reads are answered from the primary', async () => {
    const { id, token } = await createProduct('Still readable');
    await replayedTo(token);
    // C polls every 10 s: it still counts on the standby, so its next read meets the standby stopped.
    expect(await nameVia(C, id)).toBe('Still readable');
    await cluster.stopHard(cluster.b);
    const before = await readCounts(C);
    expect(await nameVia(C, id)).toBe('Still readable');
    expect(await nameVia(C, id)).toBe('Still readable');
    expect(await countedSince(C, before)).toEqual({ 'primary/fallback': 1, 'primary/unavailable': 1 });
    // B, which polls often, goes to the primary too; a listing as well as a lookup.
    for (const server of [B, C]) {
      expect(await nameVia(server, id)).toBe('Still readable');
      expect((await documentedFetch(`${server.base}/products?limit=1`)).status).toBe(200);
    }
  });
});
