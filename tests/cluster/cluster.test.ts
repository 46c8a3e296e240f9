/**
 * The local cluster (deploy/local-cluster.sh): a pg_auto_failover formation, three
 * API hosts each in its own network namespace, HAProxy in front. In order:
 *   - it comes up: a primary with a synchronous standby, every host ready on its own address;
 *   - the reservation race sent across the hosts, and the ledger invariant;
 *   - an API host killed under keyed writes through HAProxy;
 *   - a planned failover, then the new primary killed hard, under keyed writes;
 *   - the ledger invariant on the last primary.
 * Skipped (and saying why) without pg_autoctl, HAProxy, PostgreSQL 15 or root.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../failover/cluster.ts';
import {
  CLUSTER_AVAILABLE,
  type LocalCluster,
  ledgerBreaks,
  onPrimary,
  primaryNode,
  SKIPPED,
  serverStates,
  startLocalCluster,
} from './local-cluster.ts';

if (!CLUSTER_AVAILABLE) {
  process.stderr.write(`tests/cluster: ${SKIPPED}\n`);
  test.skip(SKIPPED, () => {});
}
const clusterTest = test.skipIf(!CLUSTER_AVAILABLE);

let cluster: LocalCluster;

beforeAll(async () => {
  if (!CLUSTER_AVAILABLE) return;
  cluster = await startLocalCluster();
}, 300_000);

afterAll(async () => {
  if (!cluster) return;
  const down = await cluster.down();
  if (down.code !== 0) throw new Error(`local-cluster.sh down failed: ${down.output}`);
}, 150_000);

const json = (body: unknown) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

async function createProduct(base: string, name: string, quantity: number): Promise<number> {
  const res = await fetch(`${base}/products`, json({ name, price: 1, quantity }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: number }).id;
}

describe('up', () => {
  clusterTest(
    'a primary and a synchronous standby; each API host ready on its own address; HAProxy ready with every host UP',
    async () => {
      const replication = await onPrimary(cluster, async (sql) => ({
        names: (await sql<{ s: string }[]>`SELECT current_setting('synchronous_standby_names') AS s`)[0]!.s,
        standbys: await sql<{ sync_state: string }[]>`SELECT sync_state FROM pg_stat_replication`,
      }));
      expect(replication.names).not.toBe('');
      expect(replication.standbys.map((s) => s.sync_state)).toEqual([expect.stringMatching(/^(sync|quorum)$/)]);
      for (let i = 1; i <= 3; i++) expect((await fetch(`${cluster.hostBase(i)}/readyz`)).status).toBe(200);
      expect((await fetch(`${cluster.base}/readyz`)).status).toBe(200);
      await waitFor('HAProxy to see every host UP', async () => {
        const states = await serverStates(cluster);
        return Object.values(states).length === 3 && Object.values(states).every((s) => s === 'UP');
      });
      // Each host's server runs in a network namespace of its own.
      const namespaces = [1, 2, 3].map((i) => readlinkSync(`/proc/${cluster.pid(`api${i}`)}/ns/net`));
      expect(namespaces).toEqual([1, 2, 3].map((i) => `net:[${statSync(`/run/netns/${cluster.env.CLUSTER_NAME}-api${i}`).ino}]`));
      expect(new Set([...namespaces, readlinkSync('/proc/self/ns/net')]).size).toBe(4);
      // HAProxy's servers are the hosts' own addresses.
      const own = readFileSync(join(cluster.stateDir, 'haproxy.cfg'), 'utf8');
      for (let i = 1; i <= 3; i++) expect(own).toContain(`server api${i} ${cluster.state.subnet}.${10 + i}:8000 check`);
    },
    60_000,
  );
});

describe('across the hosts', () => {
  clusterTest(
    '100 concurrent reservations of 1 unit on 60 available, sent to the three hosts: exactly 60 × 201 and 40 × 409; the ledger holds',
    async () => {
      const product = await createProduct(cluster.base, 'Cluster race', 60);
      // Each client sends its reservation with a key, and again with it while the answer is "retry" (503).
      const reserve = async (i: number) => {
        for (let attempt = 0; ; attempt++) {
          const res = await fetch(`${cluster.hostBase((i % 3) + 1)}/reservations`, {
            ...json({ product, quantity: 1, expires_in_s: 3600, reference: `race-${i}` }),
            headers: { 'content-type': 'application/json', 'idempotency-key': `race-${i}` },
          });
          const answer = { status: res.status, code: ((await res.json()) as { code?: string }).code, attempts: attempt + 1 };
          if ((res.status !== 503 && answer.code !== 'request_in_progress') || attempt === 20) return answer;
          await Bun.sleep(200);
        }
      };
      const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => reserve(i)));
      console.log(`reservation race: ${answers.filter((a) => a.attempts > 1).length} of 100 clients retried (503)`);
      const tally: Record<number, number> = {};
      for (const a of answers) tally[a.status] = (tally[a.status] ?? 0) + 1;
      expect(tally).toEqual({ 201: 60, 409: 40 });
      expect(answers.filter((a) => a.status === 409).every((a) => a.code === 'insufficient_stock')).toBe(true);
      const levels = await onPrimary(
        cluster,
        (sql) =>
          sql<{ on_hand: number; reserved: number }[]>`
          SELECT on_hand, stock_reserved(product_id, location_id) AS reserved FROM stock_levels WHERE product_id = ${product}`,
      );
      expect(levels.map((l) => ({ ...l }))).toEqual([{ on_hand: 60, reserved: 60 }]);
      expect(await ledgerBreaks(cluster)).toEqual([]);
    },
    60_000,
  );
});

// ---------------------------------------------------------------- keyed writes under faults

type Attempt = {
  started: number;
  ended: number;
  status: number;
  code?: string;
  error?: string;
  movementId?: number;
  contentType?: string | null;
  retryAfter?: string | null;
};
type Operation = { key: string; product: number; delta: number; attempts: Attempt[]; acknowledged?: Attempt };

const ok = (a: Attempt) => a.status >= 200 && a.status < 300;
/** No answer, HAProxy's 502/503/504, the API's 503, or the same key still in progress: the client retries with its key. */
const retryable = (a: Attempt) => [0, 502, 503, 504].includes(a.status) || a.code === 'request_in_progress';
const describeAttempt = (op: Operation, a: Attempt) =>
  `${op.key}: ${a.status} ${a.code ?? ''}${a.error ? ` (${a.error})` : ''} in ${Math.round(a.ended - a.started)} ms`;

/** Keyed stock adjustments from several clients through HAProxy, until `stop()`; each retried with its key. */
function writeLoad(prefix: string, products: number[], clients: number) {
  const operations: Operation[] = [];
  let running = true;
  const attempt = async (op: Operation): Promise<Attempt> => {
    const started = performance.now();
    try {
      const res = await fetch(`${cluster.base}/products/${op.product}/stock-adjustments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': op.key },
        body: JSON.stringify({ delta: op.delta, reason: op.delta > 0 ? 'received' : 'sold', reference: op.key }),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      let body: { code?: string; movement?: { id: number } } = {};
      try {
        body = JSON.parse(text);
      } catch {
        // HAProxy's own pages (502, 504) are not JSON
      }
      return {
        started,
        ended: performance.now(),
        status: res.status,
        code: body.code,
        movementId: body.movement?.id,
        contentType: res.headers.get('content-type'),
        retryAfter: res.headers.get('retry-after'),
      };
    } catch (error) {
      return { started, ended: performance.now(), status: 0, error: error instanceof Error ? error.message : String(error) };
    }
  };
  const client = async (n: number) => {
    // Bounded: at most 2000 operations per client, each given up after 60 s.
    for (let i = 0; running && i < 2000; i++) {
      const op: Operation = {
        key: `${prefix}-${n}-${i}`,
        product: products[(n + i) % products.length]!,
        delta: i % 2 ? 1 : -1,
        attempts: [],
      };
      operations.push(op);
      const givingUp = performance.now() + 60_000;
      for (;;) {
        const a = await attempt(op);
        op.attempts.push(a);
        if (ok(a)) {
          op.acknowledged = a;
          break;
        }
        if (!retryable(a) || performance.now() > givingUp) break;
        await Bun.sleep(100);
      }
      await Bun.sleep(10);
    }
  };
  const done = Promise.all(Array.from({ length: clients }, (_, n) => client(n)));
  return {
    operations,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** Every operation acknowledged; the ledger holds exactly one movement per key, the one its 2xx named. */
async function expectEachEffectOnce(operations: Operation[], prefix: string) {
  const unacknowledged = operations.filter((op) => !op.acknowledged).map((op) => describeAttempt(op, op.attempts.at(-1)!));
  expect(unacknowledged).toEqual([]);
  const movements = await onPrimary(
    cluster,
    (sql) =>
      sql<{ id: number; reference: string }[]>`
      SELECT id::int AS id, reference FROM stock_movements WHERE reference LIKE ${`${prefix}-%`}`,
  );
  const byKey = new Map<string, number[]>();
  for (const m of movements) byKey.set(m.reference, [...(byKey.get(m.reference) ?? []), m.id]);
  const wrong = operations
    .filter((op) => JSON.stringify(byKey.get(op.key) ?? []) !== JSON.stringify([op.acknowledged?.movementId]))
    .map((op) => `${op.key}: movements ${JSON.stringify(byKey.get(op.key) ?? [])}, answered ${op.acknowledged?.movementId}`);
  expect(wrong).toEqual([]);
  expect(movements.length).toBe(operations.length);
}

describe('an API host killed under keyed writes through HAProxy', () => {
  const products: number[] = [];
  let load: ReturnType<typeof writeLoad>;
  let killedAt = 0;
  let markedDownAt = 0;

  beforeAll(async () => {
    if (!CLUSTER_AVAILABLE) return;
    for (let i = 0; i < 3; i++) products.push(await createProduct(cluster.base, `Host kill ${i}`, 1000));
    load = writeLoad('hostkill', products, 6);
    try {
      await waitFor('writes to be acknowledged', async () => load.operations.filter((op) => op.acknowledged).length >= 30);
      killedAt = performance.now();
      process.kill(cluster.pid('api2'), 'SIGKILL');
      await waitFor('HAProxy to mark api2 DOWN', async () => (await serverStates(cluster)).api2 === 'DOWN', 20_000);
      markedDownAt = performance.now();
      const acknowledged = load.operations.filter((op) => op.acknowledged).length;
      await waitFor(
        'more writes after api2 is out',
        async () => load.operations.filter((op) => op.acknowledged).length >= acknowledged + 60,
      );
    } finally {
      await load.stop();
    }
    console.log(
      `API host killed: ${load.operations.length} keyed adjustments; HAProxy marked it DOWN ${Math.round(markedDownAt - killedAt)} ms after the kill; ` +
        `${load.operations.filter((op) => op.attempts.length > 1).length} needed a retry`,
    );
  }, 120_000);

  clusterTest(
    'every answer is 2xx or retryable (none 500); once the host is out, every write succeeds at the first attempt',
    () => {
      const attempts = load.operations.flatMap((op) => op.attempts.map((a) => ({ op, a })));
      expect(attempts.filter(({ a }) => !ok(a) && !retryable(a)).map(({ op, a }) => describeAttempt(op, a))).toEqual([]);
      const after = load.operations.filter((op) => op.attempts[0]!.started > markedDownAt);
      expect(after.length).toBeGreaterThanOrEqual(60);
      expect(after.filter((op) => op.attempts.length !== 1 || !op.acknowledged).map((op) => op.key)).toEqual([]);
    },
    20_000,
  );

  clusterTest(
    'nothing acknowledged is lost and each keyed effect is in the ledger once; the other hosts still serve',
    async () => {
      await expectEachEffectOnce(load.operations, 'hostkill');
      expect(await ledgerBreaks(cluster)).toEqual([]);
      expect((await fetch(`${cluster.hostBase(1)}/readyz`)).status).toBe(200);
      expect((await fetch(`${cluster.hostBase(3)}/readyz`)).status).toBe(200);
    },
    30_000,
  );
});

describe('a planned failover, then the new primary killed hard, under keyed writes through HAProxy', () => {
  const products: number[] = [];
  let load: ReturnType<typeof writeLoad>;
  const mark = { failover: 0, failedOver: 0, killed: 0, firstOk: 0, ready: 0 };
  let before: { node: string | undefined; pids: number[] };
  let after: { node: string | undefined };
  let failoverRun: { code: number; output: string };

  /** The first acknowledged write whose attempt began after `since`. */
  const firstOkAfter = (since: number) =>
    Math.min(
      ...load.operations
        .flatMap((op) => op.attempts)
        .filter((a) => ok(a) && a.started > since)
        .map((a) => a.ended),
    );

  beforeAll(async () => {
    if (!CLUSTER_AVAILABLE) return;
    for (let i = 0; i < 4; i++) products.push(await createProduct(cluster.base, `Failover ${i}`, 1000));
    before = { node: await primaryNode(cluster), pids: [cluster.pid('api1'), cluster.pid('api3')] };
    load = writeLoad('failover', products, 6);
    try {
      await waitFor('writes to be acknowledged', async () => load.operations.filter((op) => op.acknowledged).length >= 30);
      // 1. pg_autoctl perform failover (waits until the standby is the primary).
      mark.failover = performance.now();
      failoverRun = await cluster.run(['failover'], 90_000);
      mark.failedOver = performance.now();
      await waitFor(
        'a write acknowledged after the planned failover',
        async () => firstOkAfter(mark.failedOver) < Infinity,
        30_000,
      );
      // 2. The new primary's keeper and postmaster killed at once: the primary is lost.
      const primary = await primaryNode(cluster);
      expect(primary).toBeDefined();
      const postmaster = Number(readFileSync(join(cluster.state.pgroot, primary!, 'postmaster.pid'), 'utf8').split('\n')[0]);
      mark.killed = performance.now();
      process.kill(-cluster.pid(primary!), 'SIGKILL');
      try {
        process.kill(postmaster, 'SIGKILL');
      } catch {
        // already gone with its group
      }
      await waitFor('a write acknowledged on the new primary', async () => firstOkAfter(mark.killed) < Infinity, 90_000);
      mark.firstOk = firstOkAfter(mark.killed);
      await waitFor('HAProxy /readyz 200', async () => (await fetch(`${cluster.base}/readyz`)).status === 200, 30_000);
      mark.ready = performance.now();
      const acknowledged = load.operations.filter((op) => op.acknowledged).length;
      await waitFor(
        'more writes on the new primary',
        async () => load.operations.filter((op) => op.acknowledged).length >= acknowledged + 30,
      );
      after = { node: await primaryNode(cluster) };
    } finally {
      await load.stop();
    }
    const attempts = load.operations.flatMap((op) => op.attempts);
    console.log(
      `failover: ${load.operations.length} keyed adjustments in ${attempts.length} requests; ` +
        `planned failover (pg_autoctl perform failover) took ${Math.round(mark.failedOver - mark.failover)} ms; ` +
        `from the primary's loss (kill -9 of its keeper and postmaster) to the first 2xx on the new primary: ` +
        `${Math.round(mark.firstOk - mark.killed)} ms (${before.node} → ${after?.node})`,
    );
  }, 300_000);

  clusterTest(
    'pg_autoctl perform failover succeeded, and the kill made the other node the primary',
    () => {
      expect({ code: failoverRun.code }).toEqual({ code: 0 });
      expect(before.node).toBeDefined();
      expect(after.node).toBeDefined();
      // Two changes of primary: back to where it began.
      expect(after.node).toBe(before.node);
    },
    20_000,
  );

  clusterTest(
    'every answer is 2xx or retryable (none 500, none hangs)',
    () => {
      const attempts = load.operations.flatMap((op) => op.attempts.map((a) => ({ op, a })));
      expect(attempts.filter(({ a }) => !ok(a) && !retryable(a)).map(({ op, a }) => describeAttempt(op, a))).toEqual([]);
      // The outage was real: some writes needed more than one request.
      expect(load.operations.filter((op) => op.attempts.length > 1).length).toBeGreaterThan(0);
      // Refusals are the API's 503, or HAProxy's while no host is ready: the same problem+json, with Retry-After.
      const refusals = attempts.filter(({ a }) => !ok(a));
      expect(
        refusals
          .filter(({ a }) => a.status !== 503 || a.contentType !== 'application/problem+json' || a.retryAfter !== '1')
          .map(({ op, a }) => `${describeAttempt(op, a)} ${a.contentType} retry-after ${a.retryAfter}`),
      ).toEqual([]);
    },
    20_000,
  );

  clusterTest(
    'every acknowledged write is in the ledger after the failovers, each keyed effect once',
    async () => {
      await expectEachEffectOnce(load.operations, 'failover');
    },
    30_000,
  );

  clusterTest(
    'the same API processes recover by themselves (no restart): both hosts ready again',
    async () => {
      expect([cluster.pid('api1'), cluster.pid('api3')]).toEqual(before.pids);
      for (const pid of before.pids) expect(() => process.kill(pid, 0)).not.toThrow();
      expect((await fetch(`${cluster.hostBase(1)}/readyz`)).status).toBe(200);
      expect((await fetch(`${cluster.hostBase(3)}/readyz`)).status).toBe(200);
    },
    20_000,
  );

  clusterTest(
    'the ledger invariant holds on the last primary',
    async () => {
      expect(await ledgerBreaks(cluster)).toEqual([]);
    },
    30_000,
  );
});

describe('down', () => {
  clusterTest(
    'stops every process, removes the namespaces, links and data directory; a second down changes nothing',
    async () => {
      const names = ['monitor', 'node1', 'node2', 'haproxy', 'api1', 'api2', 'api3'];
      const pids = names.map((name) => cluster.pid(name));
      const postmaster = Number(readFileSync(join(cluster.state.pgroot, 'node1', 'postmaster.pid'), 'utf8').split('\n')[0]);
      const first = await cluster.down();
      expect(first.code).toBe(0);
      // Running: listed in /proc and not a zombie (ended, not yet reaped by whoever inherited it).
      const alive = (pid: number) => {
        try {
          return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
        } catch {
          return false;
        }
      };
      expect([...pids, postmaster].filter(alive)).toEqual([]);
      const prefix = `${cluster.env.CLUSTER_NAME}-`;
      const ip = (args: string[]) => Bun.spawnSync(['ip', ...args]).stdout.toString();
      expect(
        ip(['netns', 'list'])
          .split('\n')
          .filter((l) => l.startsWith(prefix)),
      ).toEqual([]);
      expect(
        ip(['-o', 'link', 'show'])
          .split('\n')
          .filter((l) => l.includes(` ${prefix}`)),
      ).toEqual([]);
      expect(existsSync(cluster.state.pgroot)).toBe(false);
      const second = await cluster.down();
      expect({ code: second.code, output: second.output.trim() }).toEqual({ code: 0, output: 'local-cluster: down' });
    },
    180_000,
  );
});
