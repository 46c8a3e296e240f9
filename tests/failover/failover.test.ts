/**
 * The service on a PostgreSQL primary with a synchronous standby, through a
 * DATABASE_URL that lists both hosts (as `pg_autoctl show uri` prints it),
 * the standby first:
 *   (a) provisioning, migrations, seeds and the real server start on that URL;
 *   (c) a standby is never used for writes, and /readyz is not ready on one;
 *   (d) a host that accepts TCP but never answers, or that is shutting down, is skipped;
 *   (b) the primary is stopped hard and the standby promoted a few seconds later,
 *       under keyed stock adjustments from several clients: no 500, no hang,
 *       every acknowledged write kept, each keyed effect once, and the same
 *       server recovers by itself.
 * Real PostgreSQL 15 servers (tests/failover/cluster.ts); skipped when the binaries are missing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { createApp, type App } from '../../src/app.ts';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import { provisionApiRole, provisionDatabase } from '../../src/cli/provision.ts';
import { createPool, type Pool } from '../../src/db.ts';
import { createLogger } from '../../src/logger.ts';
import { checkedApp, documentedFetch } from '../support/contract.ts';
import { TEST_API_ROLE } from '../support/db.ts';
import { within } from '../support/time.ts';
import { type Cluster, type Node, PG15_AVAILABLE, SKIPPED, startCluster, waitFor } from './cluster.ts';

if (!PG15_AVAILABLE) {
  process.stderr.write(`tests/failover: ${SKIPPED}\n`);
  test.skip(SKIPPED, () => {});
}
const pgTest = test.skipIf(!PG15_AVAILABLE);

const ROOT = join(import.meta.dir, '../..');
/** The server's settings: what bounds a request while no primary exists. */
const CONNECT_TIMEOUT_MS = 1000;
const POOL_WAIT_MS = 1000;
/** The longest a request may take while the database fails over: a slot, then every host's connect timeout, plus 1 s of slack. */
const BOUND_MS = POOL_WAIT_MS + 2 * CONNECT_TIMEOUT_MS + 1000;
/** How long no primary exists: the primary is stopped, then the standby promoted. */
const GAP_MS = 5000;
const CLIENTS = 6;
const PRODUCTS = 4;
const START_QUANTITY = 1000;

let cluster: Cluster;
/** postgres://…@standby,primary/…: the standby first. */
let ownerUrl: string;
let apiUrl: string;
let stack: { proc: Bun.Subprocess<'ignore', 'pipe', 'pipe'>; base: string; stdout: () => string; stderr: () => string };
const apps: { sql: Pool }[] = [];
const listeners: { stop: (force?: boolean) => void }[] = [];

/** The API role's URL of inventory_db on the given nodes (or ports), in that order, without options. */
function urlOn(nodes: (Node | number)[]): string {
  const hosts = nodes.map((n) => `127.0.0.1:${typeof n === 'number' ? n : n.port}`).join(',');
  return `postgres://${TEST_API_ROLE.user}:${encodeURIComponent(TEST_API_ROLE.password)}@${hosts}/inventory_db`;
}

/** The service's app, in this process, on its own pool. */
function appOn(databaseUrl: string, settings: { poolMax?: number; connectTimeoutMs?: number } = {}): App {
  const config = { poolMax: 2, connectTimeoutMs: CONNECT_TIMEOUT_MS, poolWaitMs: POOL_WAIT_MS, ...settings };
  const sql = createPool({ databaseUrl, ...config }, 'failover-test');
  apps.push({ sql });
  return checkedApp(createApp({ sql, config, logger: createLogger('silent') }));
}

/** A server socket that accepts connections and never says a word, like a database host that hangs. */
function silentHost(): number {
  const server = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  listeners.push(server);
  return server.port;
}

async function startStack(): Promise<typeof stack> {
  const port = await freePort();
  const proc = Bun.spawn(['bun', 'src/cli/stack.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: apiUrl,
      MIGRATION_DATABASE_URL: ownerUrl,
      PORT: String(port),
      DB_POOL_MAX: '10',
      DB_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
      DB_POOL_WAIT_MS: String(POOL_WAIT_MS),
      DB_STATEMENT_TIMEOUT_MS: '2000',
      LOG_LEVEL: 'error',
    },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const text = { stdout: '', stderr: '' };
  for (const name of ['stdout', 'stderr'] as const) {
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of proc[name]) text[name] += decoder.decode(chunk);
    })();
  }
  const started = { proc, base: `http://127.0.0.1:${port}`, stdout: () => text.stdout, stderr: () => text.stderr };
  // Listening once provisioning, migrations and seeds are done; whether it is ready is for the tests to say.
  await waitFor(
    'the server to listen',
    async () => {
      if (proc.exitCode !== null) throw new Error(`the server exited: ${text.stdout}${text.stderr}`);
      return fetch(`${started.base}/healthz`).then(
        (r) => r.status === 200,
        () => false,
      );
    },
    60_000,
  ).catch((error) => {
    throw new Error(`${error.message}\n${text.stdout}${text.stderr}`);
  });
  return started;
}

beforeAll(async () => {
  if (!PG15_AVAILABLE) return;
  cluster = await startCluster();
  const { a, b, password } = cluster;
  // Provisioned like production, through the URL of both hosts, the standby first.
  const admin = `postgres://postgres:${password}@127.0.0.1:${b.port},127.0.0.1:${a.port}/postgres?target_session_attrs=read-write`;
  ownerUrl = await provisionDatabase(admin);
  apiUrl = await provisionApiRole(admin);
  stack = await startStack();
}, 120_000);

afterAll(async () => {
  for (const l of listeners) l.stop(true);
  await Promise.all(apps.map((a) => a.sql.end({ timeout: 1 })));
  if (stack && stack.proc.exitCode === null) {
    stack.proc.kill('SIGTERM');
    const stopped = await Promise.race([stack.proc.exited.then(() => true), Bun.sleep(10_000).then(() => false)]);
    if (!stopped) stack.proc.kill('SIGKILL');
  }
  await cluster?.destroy();
}, 60_000);

/** A superuser's connection to one node's inventory_db, for checks. */
async function onNode<T>(node: Node, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = cluster.connect(node, 'inventory_db');
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

const adjustBody = (delta: number, reference: string) =>
  JSON.stringify({ delta, reason: delta > 0 ? 'received' : 'sold', reference });

describe('a DATABASE_URL of two hosts, the standby first', () => {
  pgTest(
    'provisioning, dbmate, the seeds and the real server start on it, on the primary; /readyz 200',
    async () => {
      expect(ownerUrl).toContain(`@127.0.0.1:${cluster.b.port},127.0.0.1:${cluster.a.port}/inventory_db`);
      await waitFor('/readyz to answer 200', async () => (await fetch(`${stack.base}/readyz`)).status === 200, 10_000);
      expect(stack.stdout()).toContain('run.sh: API       http://localhost:');
      expect(stack.stdout()).toContain('run.sh: using the PostgreSQL at DATABASE_URL');
      expect(stack.stdout()).toContain('Applying: 20261122000001_create_catalog.sql');
      expect(stack.stdout()).toContain('run.sh: seeds loaded');
      const migrations = readdirSync(join(ROOT, 'db/migrations')).filter((f) => f.endsWith('.sql')).length;
      const applied = await onNode(cluster.a, async (sql) => {
        const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM schema_migrations`;
        return row!.n;
      });
      expect(applied).toBe(migrations);
      // `bun run db status` (dbmate) on the same URL, as an operator would run it.
      const status = Bun.spawnSync(['bun', 'src/cli/db.ts', 'status'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, DATABASE_URL: ownerUrl },
      });
      expect({ code: status.exitCode, out: status.stdout.toString(), err: status.stderr.toString() }).toMatchObject({
        code: 0,
        out: expect.stringContaining('Pending: 0'),
      });
    },
    20_000,
  );

  pgTest(
    'the server never opened a session on the standby listed first, only on the primary',
    async () => {
      const res = await documentedFetch(`${stack.base}/products?limit=5`);
      expect(res.status).toBe(200);
      const sessions = async (node: Node) =>
        onNode(node, async (sql) => {
          const [row] = await sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = ${TEST_API_ROLE.user}`;
          return row!.n;
        });
      expect({ standby: await sessions(cluster.b), primary: (await sessions(cluster.a)) > 0 }).toEqual({
        standby: 0,
        primary: true,
      });
    },
    20_000,
  );

  pgTest(
    'without target_session_attrs in the URL, the pool still writes on the primary only',
    async () => {
      const app = appOn(urlOn([cluster.b, cluster.a]));
      expect((await app.request('/readyz')).status).toBe(200);
      const created = await app.request('/products', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'no-session-attrs' },
        body: JSON.stringify({ name: 'Written on the primary', price: 1, quantity: 1 }),
      });
      expect(created.status).toBe(201);
    },
    20_000,
  );
});

describe('a pool whose URL names only the standby', () => {
  pgTest(
    'a write answers 503 database_unavailable with Retry-After, not 500; /readyz 503; reads work',
    async () => {
      const app = appOn(urlOn([cluster.b]));
      const read = await app.request('/products?limit=1');
      expect(read.status).toBe(200);
      const [product] = (await read.json()) as { id: number }[];
      const write = await app.request(`/products/${product!.id}/stock-adjustments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'on-the-standby' },
        body: adjustBody(1, 'on-the-standby'),
      });
      expect({ status: write.status, retryAfter: write.headers.get('retry-after') }).toEqual({ status: 503, retryAfter: '1' });
      expect(((await write.json()) as { code: string }).code).toBe('database_unavailable');
      const ready = await app.request('/readyz');
      expect({ status: ready.status, body: await ready.json() }).toEqual({ status: 503, body: { status: 'unavailable' } });
    },
    20_000,
  );
});

describe('a host that never answers, listed first', () => {
  pgTest(
    'is skipped after the connect timeout: /readyz 200 and a write succeeds on the primary after it',
    async () => {
      const app = appOn(urlOn([silentHost(), cluster.a]));
      const ready = await within(BOUND_MS, app.request('/readyz'));
      expect(ready.status).toBe(200);
      const created = await within(
        BOUND_MS,
        app.request('/products', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': 'past-a-silent-host' },
          body: JSON.stringify({ name: 'Past a silent host', price: 1, quantity: 3 }),
        }),
      );
      expect(created.status).toBe(201);
    },
    20_000,
  );

  pgTest(
    'a readiness probe that gives up while the pool connects past it leaves the connection usable',
    async () => {
      // Two silent hosts of 1.5 s each: the probe gives up (2 s) while its connection is still being opened.
      const app = appOn(urlOn([silentHost(), silentHost(), cluster.a]), { poolMax: 1, connectTimeoutMs: 1500 });
      const probe = await within(4000, app.request('/readyz'));
      expect(probe.status).toBe(503);
      // The pool's one connection reaches the primary after the probe gave up, and serves the next request.
      const read = await within(5000, app.request('/products?limit=1'));
      expect(read.status).toBe(200);
    },
    20_000,
  );
});

// ---------------------------------------------------------------- the failover

type Attempt = {
  started: number;
  ended: number;
  /** 0 when no HTTP answer came (the client gave up after BOUND_MS, or the connection failed). */
  status: number;
  code?: string;
  error?: string;
  retryAfter: string | null;
  contentType: string | null;
  movementId?: number;
};
type Operation = { key: string; product: number; delta: number; attempts: Attempt[]; acknowledged?: Attempt };

const operations: Operation[] = [];
const readyWhileNoPrimary: { status: number; ms: number }[] = [];
/** performance.now() marks of the scenario. */
const mark = { stopping: 0, stopped: 0, promoting: 0, promoted: 0, firstOk: 0, ready: 0 };
const products: number[] = [];
let serverPid = 0;

const ok = (a: Attempt) => a.status >= 200 && a.status < 300;
const retryable = (a: Attempt) => a.status === 0 || a.status === 503 || a.code === 'request_in_progress';
const describeAttempt = (op: Operation, a: Attempt) =>
  `${op.key}: ${a.status} ${a.code ?? ''}${a.error ? ` (${a.error})` : ''} in ${Math.round(a.ended - a.started)} ms`;

async function attempt(op: Operation): Promise<Attempt> {
  const started = performance.now();
  try {
    const res = await documentedFetch(`${stack.base}/products/${op.product}/stock-adjustments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': op.key },
      body: adjustBody(op.delta, op.key),
      signal: AbortSignal.timeout(BOUND_MS),
    });
    const body = (await res.json()) as { code?: string; movement?: { id: number } };
    return {
      started,
      ended: performance.now(),
      status: res.status,
      code: body.code,
      retryAfter: res.headers.get('retry-after'),
      contentType: res.headers.get('content-type'),
      movementId: body.movement?.id,
    };
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { started, ended: performance.now(), status: 0, error: `${name}: ${message}`, retryAfter: null, contentType: null };
  }
}

/** One client: keyed adjustments one after the other, each retried with its key on 503, 409 request_in_progress or no answer. */
async function client(n: number, running: () => boolean): Promise<void> {
  for (let i = 0; running(); i++) {
    const op: Operation = {
      key: `failover-${n}-${i}`,
      product: products[(n + i) % PRODUCTS]!,
      delta: i % 2 ? 1 : -1,
      attempts: [],
    };
    operations.push(op);
    const givingUp = performance.now() + 30_000;
    for (;;) {
      const a = await attempt(op);
      op.attempts.push(a);
      if (ok(a)) {
        op.acknowledged = a;
        if (mark.stopped && !mark.firstOk && a.started > mark.stopped) mark.firstOk = a.ended;
        break;
      }
      if (!retryable(a) || performance.now() > givingUp) break;
      await Bun.sleep(200);
    }
    await Bun.sleep(20);
  }
}

async function readyz(): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const status = await documentedFetch(`${stack.base}/readyz`, { signal: AbortSignal.timeout(5000) }).then(
    (r) => r.status,
    () => 0,
  );
  return { status, ms: performance.now() - started };
}

async function failover(): Promise<void> {
  let running = true;
  const clients = Array.from({ length: CLIENTS }, (_, n) => client(n, () => running));
  try {
    await Bun.sleep(1500);
    mark.stopping = performance.now();
    await cluster.stopHard(cluster.a);
    mark.stopped = performance.now();
    while (performance.now() < mark.stopped + GAP_MS) {
      readyWhileNoPrimary.push(await readyz());
      await Bun.sleep(250);
    }
    mark.promoting = performance.now();
    await cluster.promote(cluster.b);
    mark.promoted = performance.now();
    while (!mark.ready && performance.now() < mark.promoted + 10_000) {
      if ((await readyz()).status === 200) mark.ready = performance.now();
      else await Bun.sleep(100);
    }
    await Bun.sleep(2000);
  } finally {
    running = false;
    await Promise.all(clients);
  }
}

describe('the primary stopped hard, the standby promoted 5 s later, under keyed adjustments', () => {
  beforeAll(async () => {
    if (!PG15_AVAILABLE) return;
    for (let i = 0; i < PRODUCTS; i++) {
      const res = await documentedFetch(`${stack.base}/products`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `Failover ${i}`, sku: `FAILOVER-${i}`, price: 1, quantity: START_QUANTITY }),
      });
      expect(res.status).toBe(201);
      products.push(((await res.json()) as { id: number }).id);
    }
    serverPid = stack.proc.pid;
    await failover();
    const attempts = operations.flatMap((op) => op.attempts);
    console.log(
      `failover: ${operations.length} keyed adjustments in ${attempts.length} requests; ` +
        `primary stopped in ${Math.round(mark.stopped - mark.stopping)} ms, promotion took ${Math.round(mark.promoted - mark.promoting)} ms; ` +
        `from the loss of the primary to the first 2xx: ${Math.round(mark.firstOk - mark.stopping)} ms ` +
        `(${Math.round(mark.firstOk - mark.promoted)} ms after the promotion)`,
    );
  }, 90_000);

  pgTest(
    'every request is answered 201 or 503 database_unavailable with Retry-After, none hangs',
    () => {
      const attempts = operations.flatMap((op) => op.attempts.map((a) => ({ op, a })));
      // A request that hung shows as status 0 (the client gave up after BOUND_MS).
      expect(
        attempts
          .filter(({ a }) => a.status !== 201 && a.code !== 'database_unavailable')
          .map(({ op, a }) => describeAttempt(op, a)),
      ).toEqual([]);
      for (const { a } of attempts.filter(({ a }) => a.status === 503)) {
        expect({ retryAfter: a.retryAfter, contentType: a.contentType }).toEqual({
          retryAfter: '1',
          contentType: 'application/problem+json',
        });
      }
      const refused = attempts.filter(({ a }) => a.status === 503);
      expect(refused.length).toBeGreaterThanOrEqual(CLIENTS);
    },
    20_000,
  );

  pgTest(
    'while no primary exists, /readyz answers 503',
    () => {
      expect(readyWhileNoPrimary.length).toBeGreaterThanOrEqual(5);
      expect(readyWhileNoPrimary.map((r) => r.status)).toEqual(readyWhileNoPrimary.map(() => 503));
    },
    20_000,
  );

  pgTest(
    'the same server recovers by itself once the standby is promoted',
    async () => {
      expect(stack.proc.pid).toBe(serverPid);
      expect(stack.proc.exitCode).toBeNull();
      expect(mark.ready).toBeGreaterThan(0);
      expect(mark.firstOk).toBeGreaterThan(0);
      const after = operations.filter((op) => op.attempts[0]!.started > mark.ready);
      expect(after.length).toBeGreaterThanOrEqual(CLIENTS);
      expect(after.filter((op) => !op.acknowledged).map((op) => op.key)).toEqual([]);
      expect((await readyz()).status).toBe(200);
    },
    20_000,
  );

  pgTest(
    'every acknowledged adjustment is in the promoted ledger, each keyed effect once, and quantities match it',
    async () => {
      expect(operations.every((op) => op.acknowledged)).toBe(true);
      const { movements, breaks } = await onNode(cluster.b, async (sql) => ({
        movements: await sql<{ id: number; reference: string }[]>`
        SELECT id::int AS id, reference FROM stock_movements WHERE reference LIKE 'failover-%'`,
        breaks: await sql<{ id: number }[]>`
        SELECT p.id, p.quantity, coalesce(sum(m.delta), 0)::int AS ledger
        FROM products p LEFT JOIN stock_movements m ON m.product_id = p.id
        GROUP BY p.id HAVING p.quantity <> coalesce(sum(m.delta), 0)`,
      }));
      const byKey = new Map<string, number[]>();
      for (const m of movements) byKey.set(m.reference, [...(byKey.get(m.reference) ?? []), m.id]);
      // Each operation's key: exactly the one movement its 2xx answer named.
      const wrong = operations
        .filter((op) => JSON.stringify(byKey.get(op.key) ?? []) !== JSON.stringify([op.acknowledged?.movementId]))
        .map((op) => `${op.key}: movements ${JSON.stringify(byKey.get(op.key) ?? [])}, answered ${op.acknowledged?.movementId}`);
      expect(wrong).toEqual([]);
      expect(movements.length).toBe(operations.length);
      expect([...breaks]).toEqual([]);
      // The outage was real: some operations needed more than one request.
      expect(operations.filter((op) => op.attempts.length > 1).length).toBeGreaterThan(0);
    },
    20_000,
  );

  pgTest(
    'no session of the server ever ran a write on a standby (no read-only transaction error)',
    async () => {
      const metrics = await (await fetch(`${stack.base}/metrics`)).text();
      expect(metrics).not.toMatch(/db_errors_total\{class="25"\}/);
      expect(stack.stderr()).not.toContain('read-only transaction');
    },
    20_000,
  );
});

describe('the old primary rejoined as a standby, then shutting down', () => {
  pgTest(
    'a host answering 57P03 (shutting down) listed first is skipped for the primary after it',
    async () => {
      const a = await cluster.rejoin(cluster.a, cluster.b);
      const held = cluster.connect(a);
      try {
        await held`SELECT 1`;
        // A smart shutdown waits for the session above and meanwhile refuses new ones with 57P03.
        await cluster.stopSmart(a);
        const probe = postgres(cluster.adminUrl(a), { max: 1, onnotice: () => {} });
        const refused = await probe`SELECT 1`.then(
          () => 'connected',
          (e) => e.code,
        );
        await probe.end({ timeout: 1 });
        expect(refused).toBe('57P03');
        const app = appOn(urlOn([a, cluster.b]));
        expect((await within(BOUND_MS, app.request('/readyz'))).status).toBe(200);
        const product = products[0]!;
        const write = await within(
          BOUND_MS,
          app.request(`/products/${product}/stock-adjustments`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': 'past-a-stopping-host' },
            body: adjustBody(1, 'past-a-stopping-host'),
          }),
        );
        expect(write.status).toBe(201);
      } finally {
        await held.end({ timeout: 1 });
      }
    },
    20_000,
  );
});
