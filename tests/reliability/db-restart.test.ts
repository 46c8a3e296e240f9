import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { createApp, type App } from '../../src/app.ts';
import { checkedApp, documentedFetch } from '../support/contract.ts';
import { dbmate } from '../../src/cli/dbmate.ts';
import { provisionDatabase } from '../../src/cli/provision.ts';
import { freePort, startEmbeddedPostgres, type RunningPostgres } from '../../src/cli/embedded-postgres.ts';
import { createPool, type Pool } from '../../src/db.ts';
import { createLogger } from '../../src/logger.ts';
import { listen } from '../support/app.ts';

// PostgreSQL stops in the middle of a steady load and comes back. The same app
// (same pool, never rebuilt) must refuse fast while it is gone, recover by
// itself, and leave behind exactly the writes it answered 2xx for.

const CLIENTS = 8;
const HOT_PRODUCTS = 4;
const START_QUANTITY = 1000;
const PACE_MS = 10; // between one client's requests
const MAX_REQUESTS_PER_CLIENT = 1500;
/** A client gives up on a request after this long; the service should answer long before. */
const CLIENT_TIMEOUT_MS = 5000;

type Sent = {
  kind: 'create' | 'adjust';
  path: string;
  body: string;
  key?: string;
  sku?: string;
  product?: number;
  delta?: number;
};

type Outcome = Sent & {
  started: number;
  ended: number;
  ms: number;
  /** 0 when the request got no HTTP answer at all (code then names the client error). */
  status: number;
  code?: string;
  contentType: string | null;
  retryAfter: string | null;
  movementId?: number;
};

const dir = mkdtempSync(join(tmpdir(), 'inventory-restart-'));
chmodSync(dir, 0o755); // PostgreSQL runs as the postgres user when the suite runs as root
let pgPort: number;
let pg: RunningPostgres | undefined;
let ownerUrl: string;
let pool: Pool;
let app: App;
let server: ReturnType<typeof listen>;
let check: postgres.Sql;

const hot: number[] = [];
/** A product whose row is locked when PostgreSQL stops, so that one keyed request is cut off mid-transaction. */
let held: number;
let cutOff: Promise<Outcome>;
const outcomes: Outcome[] = [];
const readyWhileDown: { status: number; ms: number }[] = [];
/** performance.now() marks of the scenario. */
const mark = { stopping: 0, stopped: 0, restarting: 0, restarted: 0, ready: 0 };

beforeAll(async () => {
  pgPort = await freePort();
  pg = await startEmbeddedPostgres({ dir, port: pgPort, persistent: true });
  ownerUrl = await provisionDatabase(pg.adminUrl);
  await dbmate(ownerUrl, ['up'], true);
  const settings = { poolMax: 10, connectTimeoutMs: 1000, statementTimeoutMs: 2000 };
  pool = createPool({ databaseUrl: ownerUrl, ...settings }, 'reliability-restart');
  app = checkedApp(createApp({ sql: pool, config: settings, logger: createLogger('silent') }));
  server = listen(app);
  const ids: number[] = [];
  for (let i = 0; i <= HOT_PRODUCTS; i++) {
    const res = await post('/products', { name: `Hot ${i}`, sku: `HOT-${i}`, price: 1, quantity: START_QUANTITY });
    expect(res.status).toBe(201);
    ids.push(((await res.json()) as { id: number }).id);
  }
  held = ids.pop()!;
  hot.push(...ids);
  await runScenario();
  check = postgres(ownerUrl, { max: 1, onnotice: () => {} });
}, 40_000);

afterAll(async () => {
  server?.stop();
  await pool?.end({ timeout: 1 });
  await check?.end({ timeout: 1 });
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 15_000);

function post(path: string, body: unknown, key?: string): Promise<Response> {
  return documentedFetch(`${server.base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
  });
}

/** The i-th request of a client: mostly stock adjustments on the hot products, some new products; every other one keyed. */
function nextRequest(client: number, i: number): Sent {
  const key = i % 2 ? `restart-${client}-${i}` : undefined;
  if (i % 3 === 0) {
    const sku = `R-${client}-${i}`;
    const body = JSON.stringify({ name: `Restart ${client}-${i}`, sku, price: 2.5, quantity: i % 4 });
    return { kind: 'create', path: '/products', body, key, sku };
  }
  const product = hot[(client + i) % HOT_PRODUCTS]!;
  return adjustment(product, (client + i) % 2 ? 1 : -1, key);
}

function adjustment(product: number, delta: number, key?: string): Sent {
  const body = JSON.stringify({ delta, reason: delta > 0 ? 'received' : 'sold' });
  return { kind: 'adjust', path: `/products/${product}/stock-adjustments`, body, key, product, delta };
}

async function send(sent: Sent): Promise<Outcome> {
  const started = performance.now();
  const base = { ...sent, started, contentType: null, retryAfter: null };
  try {
    const res = await post(sent.path, sent.body, sent.key);
    const json = (await res.json()) as { code?: string; movement?: { id: number } };
    const ended = performance.now();
    return {
      ...base,
      ended,
      ms: ended - started,
      status: res.status,
      code: json.code,
      contentType: res.headers.get('content-type'),
      retryAfter: res.headers.get('retry-after'),
      movementId: json.movement?.id,
    };
  } catch (error) {
    const ended = performance.now();
    return { ...base, ended, ms: ended - started, status: 0, code: error instanceof Error ? error.name : String(error) };
  }
}

/** Runs `step` every `everyMs` until `ms` have passed (bounded in count too). */
async function paced(ms: number, everyMs: number, step: () => Promise<void> = async () => {}): Promise<void> {
  const until = performance.now() + ms;
  for (let n = 0; n < 1000 && performance.now() < until; n++) {
    await step();
    await Bun.sleep(everyMs);
  }
}

async function readyz(): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const status = await documentedFetch(`${server.base}/readyz`, { signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS) }).then(
    (r) => r.status,
    () => 0,
  );
  return { status, ms: performance.now() - started };
}

/** Sends a keyed adjustment on `held` while another session holds its row lock; resolves once it waits on that lock. */
async function sendBehindLock(locker: postgres.Sql): Promise<{ outcome: Promise<Outcome> }> {
  const session = await locker.reserve();
  await session`BEGIN`;
  await session`SELECT id FROM products WHERE id = ${held} FOR UPDATE`;
  const pid = (await session<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid;
  const outcome = send(adjustment(held, 1, 'cut-off-by-restart'));
  for (let n = 0; n < 100; n++) {
    // Asked outside the locking transaction: inside one, pg_stat_activity is a snapshot taken once.
    const [row] = await locker`SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${pid} = ANY(pg_blocking_pids(pid))`;
    if (row!.n === 1) return { outcome }; // wrapped: awaiting this must not wait for the request
    await Bun.sleep(10);
  }
  throw new Error('the keyed adjustment never waited on the row lock');
}

async function runScenario(): Promise<void> {
  let running = true;
  const clients = Array.from({ length: CLIENTS }, async (_, client) => {
    for (let i = 0; running && i < MAX_REQUESTS_PER_CLIENT; i++) {
      outcomes.push(await send(nextRequest(client, i)));
      await Bun.sleep(PACE_MS);
    }
  });
  const locker = postgres(ownerUrl, { max: 2, onnotice: () => {} });
  try {
    await paced(1500, 100);
    const behindLock = await sendBehindLock(locker);
    mark.stopping = performance.now();
    await pg!.stop();
    mark.stopped = performance.now();
    cutOff = behindLock.outcome;
    await paced(2000, 200, async () => {
      readyWhileDown.push(await readyz());
    });
    mark.restarting = performance.now();
    pg = await startEmbeddedPostgres({ dir, port: pgPort, persistent: true });
    mark.restarted = performance.now();
    while (mark.ready === 0 && performance.now() < mark.restarted + 5000) {
      if ((await readyz()).status === 200) mark.ready = performance.now();
      else await Bun.sleep(50);
    }
    await paced(2000, 100);
  } finally {
    running = false;
    await Promise.all(clients);
    await locker.end({ timeout: 1 });
  }
}

const ok = (o: Outcome) => o.status >= 200 && o.status < 300;
const tally = (list: Outcome[]) =>
  list.reduce<Record<string, number>>((acc, o) => {
    const k = `${o.status} ${o.code ?? ''}`.trim();
    acc[k] = (acc[k] ?? 0) + 1;
    return acc;
  }, {});
const describeOutcome = (o: Outcome) =>
  `${o.path}${o.key ? ` key ${o.key}` : ''}: ${o.status} ${o.code ?? ''} in ${Math.round(o.ms)} ms`;

/** Products whose quantity is not the sum of their stock movements. */
async function ledgerBreaks(): Promise<{ id: string; quantity: number; ledger: number }[]> {
  return [
    ...(await check<{ id: string; quantity: number; ledger: number }[]>`
    SELECT p.id, p.quantity, coalesce(sum(m.delta), 0)::int AS ledger
    FROM products p LEFT JOIN stock_movements m ON m.product_id = p.id
    GROUP BY p.id HAVING p.quantity <> coalesce(sum(m.delta), 0)`),
  ];
}

describe('database restart under load', () => {
  test('while PostgreSQL is down, every request answers 503 database_unavailable within 2 s, and /readyz answers 503', () => {
    const down = outcomes.filter((o) => o.started >= mark.stopped && o.started < mark.restarting);
    // A hung request shows here as a slow one (status 0 when the client gave up after 5 s).
    expect(down.filter((o) => o.ms >= 2000).map(describeOutcome)).toEqual([]);
    // Those that also ended before the restart began never saw a database.
    const whollyDown = down.filter((o) => o.ended < mark.restarting);
    expect(tally(whollyDown)).toEqual({ '503 database_unavailable': whollyDown.length });
    for (const o of whollyDown) {
      expect(o.contentType).toBe('application/problem+json');
      expect(o.retryAfter).toBe('1');
    }
    expect(whollyDown.length).toBeGreaterThanOrEqual(50);

    expect(readyWhileDown.length).toBeGreaterThanOrEqual(5);
    expect(readyWhileDown.map((r) => r.status)).toEqual(readyWhileDown.map(() => 503));
    expect(Math.max(...readyWhileDown.map((r) => r.ms))).toBeLessThan(2000);
  }, 10_000);

  test('the whole time, every request is answered 201 or 503 database_unavailable, and all are 201 before the stop', () => {
    expect(outcomes.length).toBeLessThan(CLIENTS * MAX_REQUESTS_PER_CLIENT); // the load ended on time, not on the bound
    expect(outcomes.filter((o) => o.status !== 201 && o.code !== 'database_unavailable').map(describeOutcome)).toEqual([]);
    const before = outcomes.filter((o) => o.ended < mark.stopping);
    expect(before.length).toBeGreaterThanOrEqual(100);
    expect(tally(before)).toEqual({ '201': before.length });
  }, 10_000);

  test('after PostgreSQL is back, the same app recovers by itself: /readyz 200 within 2 s and every request succeeds', async () => {
    expect(mark.ready).toBeGreaterThan(0);
    expect(mark.ready - mark.restarted).toBeLessThan(2000);
    const after = outcomes.filter((o) => o.started >= mark.ready);
    expect(tally(after)).toEqual({ '201': after.length });
    expect(after.length).toBeGreaterThanOrEqual(100);
    expect((await readyz()).status).toBe(200);
  }, 10_000);

  test('every request answered 2xx took effect, none answered with an error did, and the ledger holds', async () => {
    // A statement running at the very moment PostgreSQL shuts down may commit and still lose its
    // answer (the server ends the session between its commit and its reply): for those requests,
    // as for any database client, the outcome is unknown, and a retry with the same
    // Idempotency-Key settles it (tested below). Every other refused request must have done nothing.
    const inFlightAtStop = (o: Outcome) => o.started < mark.stopped && o.ended > mark.stopping;
    const creates = outcomes.filter((o) => o.kind === 'create');
    const created = creates.filter(ok).map((o) => o.sku!);
    const refused = creates.filter((o) => !ok(o) && !inFlightAtStop(o)).map((o) => o.sku!);
    const unknown = creates.filter((o) => !ok(o) && inFlightAtStop(o)).map((o) => o.sku!);
    expect(refused.length).toBeGreaterThan(0);
    const rows = (await check<{ sku: string }[]>`SELECT sku FROM products WHERE sku LIKE 'R-%'`).map((r) => r.sku);
    expect(created.filter((sku) => !rows.includes(sku))).toEqual([]);
    expect(rows.filter((sku) => !created.includes(sku) && !unknown.includes(sku))).toEqual([]);

    const adjusts = outcomes.filter((o) => o.kind === 'adjust');
    expect(adjusts.filter((o) => !ok(o)).length).toBeGreaterThan(0);
    const answered = adjusts.filter(ok).map((o) => o.movementId!);
    const movements = (
      await check<{ id: number }[]>`
      SELECT id::int AS id FROM stock_movements WHERE product_id = ANY(${hot}) AND reason <> 'initial'`
    ).map((m) => m.id);
    expect(answered.filter((id) => !movements.includes(id))).toEqual([]);
    const unanswered = movements.filter((id) => !answered.includes(id));
    expect(unanswered.length).toBeLessThanOrEqual(adjusts.filter((o) => !ok(o) && inFlightAtStop(o)).length);

    // The keyed request on `held` was waiting on a row lock when the stop began. Its transaction died
    // with its session (nothing written), or, when the lock holder's session ended first and the stop
    // reached this one a moment later, it committed whole: its movement with its stored key, so that
    // the retry below replays that movement instead of adding another.
    const cut = await cutOff;
    const heldMoves = await check`SELECT id FROM stock_movements WHERE product_id = ${held} AND reason <> 'initial'`;
    expect(heldMoves.length).toBeLessThanOrEqual(1);
    const [stored] = await check<{ n: number }[]>`SELECT count(*)::int AS n FROM idempotency_keys WHERE key = ${cut.key!}`;
    expect(stored!.n).toBe(heldMoves.length);
    expect(await ledgerBreaks()).toEqual([]);
  }, 10_000);

  test('a keyed request cut off mid-transaction by the stop answers 503, and its retry with the same key succeeds once', async () => {
    const cut = await cutOff;
    expect(cut).toMatchObject({ status: 503, code: 'database_unavailable' });
    // It was still waiting when the stop began (not refused by its statement timeout), and answered promptly.
    expect(cut.ended).toBeGreaterThan(mark.stopping);
    expect(cut.ended - mark.stopping).toBeLessThan(2000);
    const retry = await send(cut);
    expect(describeOutcome(retry)).toStartWith(`${cut.path} key ${cut.key}: 201 `);
    const replay = await send(cut);
    expect({ status: replay.status, movementId: replay.movementId }).toEqual({ status: 201, movementId: retry.movementId });
    const moved = await check`SELECT id::int AS id FROM stock_movements WHERE product_id = ${held} AND reason <> 'initial'`;
    expect(moved.map((m) => m.id)).toEqual([retry.movementId]);
    expect(await ledgerBreaks()).toEqual([]);
  }, 10_000);

  test('every keyed request refused with 503 during the outage succeeds when retried with its key', async () => {
    const refusedKeyed = outcomes.filter((o) => o.key && !ok(o));
    expect(refusedKeyed.length).toBeGreaterThan(0);
    const retried: Outcome[] = [];
    for (let i = 0; i < refusedKeyed.length; i += CLIENTS) {
      retried.push(...(await Promise.all(refusedKeyed.slice(i, i + CLIENTS).map(send))));
    }
    expect(retried.filter((o) => o.status !== 201).map(describeOutcome)).toEqual([]);
    // Each retry took effect exactly once.
    const skus = retried.filter((o) => o.kind === 'create').map((o) => o.sku!);
    const [row] = await check`SELECT count(*)::int AS n FROM products WHERE sku = ANY(${skus})`;
    expect(row!.n).toBe(skus.length);
    const movements = retried.filter((o) => o.kind === 'adjust').map((o) => o.movementId!);
    const [moved] = await check`SELECT count(*)::int AS n FROM stock_movements WHERE id = ANY(${movements})`;
    expect(moved!.n).toBe(movements.length);
    expect(await ledgerBreaks()).toEqual([]);
  }, 20_000);
});
