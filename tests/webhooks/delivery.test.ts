/**
 * Delivery, against receivers that are local HTTP servers verifying every
 * request with the `standardwebhooks` package: at least once, in order per
 * subscription, through refusals, timeouts and 500s; retries that stop and a
 * subscription disabled with its reason; type filters; two signatures while a
 * secret is rotated; the address rule at delivery time; replays; and logs that
 * never hold a secret or a signature.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import type { Config } from '../../src/config.ts';
import { createPool } from '../../src/db.ts';
import { type Deliverer, startDeliverer } from '../../src/webhooks/deliverer.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { json, unique } from '../support/values.ts';
import {
  capturingLogger,
  type Client,
  configWith,
  emitCategories,
  eventIdOf,
  positionsOf,
  type Received,
  type Receiver,
  startPublishing,
  startReceiver,
  verify,
  waitFor,
  webhookClient,
} from './support.ts';

let db: TestDatabase;
let client: Client;
let publisher: { stop: () => Promise<void> };
/** Everything the service logged in this file (debug and up). */
const lines: string[] = [];
/** Every secret the API showed in this file. */
const secrets: string[] = [];
const receivers: Receiver[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  client = webhookClient(db, {}, capturingLogger(lines));
  publisher = startPublishing(db.adminUrl);
});
afterAll(async () => {
  await publisher?.stop();
  await Promise.all(receivers.map((r) => r.stop()));
  await db?.drop();
});

function receiver(options: Parameters<typeof startReceiver>[0] = {}) {
  const r = startReceiver(options);
  receivers.push(r);
  return r;
}

/** Runs `fn` with a deliverer of these settings, stopped afterwards whatever happens. */
async function withDeliverer(overrides: Partial<Config>, fn: (d: Deliverer) => Promise<void>) {
  const deliverer = startDeliverer({ sql: db.sql, config: configWith(overrides), logger: capturingLogger(lines) });
  try {
    await fn(deliverer);
  } finally {
    await deliverer.stop();
  }
}

async function createHook(url: string, eventTypes?: string[]): Promise<{ id: number; secret: string }> {
  const res = await client.post('/webhooks', { url, ...(eventTypes ? { event_types: eventTypes } : {}) });
  expect(res.status).toBe(201);
  const body = await json(res);
  secrets.push(body.secret);
  return body;
}

async function deleteHook(id: number) {
  expect((await client.request(`/webhooks/${id}`, { method: 'DELETE' })).status).toBe(204);
}

type Delivery = {
  event_id: number;
  attempt: number;
  status_code: number | null;
  error: string | null;
  latency_ms: number;
  ok: boolean;
};

async function deliveries(id: number): Promise<Delivery[]> {
  const res = await client.request(`/webhooks/${id}/deliveries?limit=1000`);
  expect(res.status).toBe(200);
  return json(res);
}

const hook = async (id: number) => json(await client.request(`/webhooks/${id}`));

/** The requests of `path` that got a 2xx, in arrival order. */
const accepted = (r: Receiver, path: string) =>
  r.received.filter((x) => x.path === path && x.answered >= 200 && x.answered < 300);
const ofPath = (r: Receiver, path: string) => r.received.filter((x) => x.path === path);

describe('at least once, in order', () => {
  test('a receiver that refuses, times out, then answers 500 gets every event once it recovers; a healthy one is not held up', async () => {
    const port = await freePort();
    const failing = await createHook(`http://127.0.0.1:${port}/failing`);
    const good = receiver();
    const healthy = await createHook(good.url('/healthy'));
    let ids: number[] = [];
    await withDeliverer({}, async () => {
      ids = await emitCategories(db, 20);
      const positions = await positionsOf(db, ids);

      // Refused: nothing listens on the port yet.
      await waitFor(
        'refused attempts',
        async () => (await deliveries(failing.id)).filter((d) => d.error === 'connection refused').length >= 2,
      );
      // Meanwhile the healthy receiver gets everything, in order, once.
      await waitFor('the healthy receiver to get every event', () => accepted(good, '/healthy').length >= ids.length);
      expect(accepted(good, '/healthy').map(eventIdOf)).toEqual(ids);
      expect(ofPath(good, '/healthy')).toHaveLength(ids.length);
      const stuck = await hook(failing.id);
      expect(stuck).toMatchObject({ enabled: true, last_error: 'connection refused', position: positions.get(ids[0]!)! - 1 });
      expect(stuck.failures).toBeGreaterThanOrEqual(2);
      expect(stuck.failing_since).not.toBeNull();
      expect(stuck.next_attempt_at).not.toBeNull();

      // It listens, but holds every request past the timeout.
      const late = receiver({ port, hangMs: 1500 });
      late.behave('/failing', 'hang');
      await waitFor(
        'timed-out attempts',
        async () => (await deliveries(failing.id)).filter((d) => d.error === 'timeout').length >= 2,
      );
      // The API answers all along.
      expect((await client.request(`/webhooks/${failing.id}`)).status).toBe(200);

      // Then it answers 500.
      late.behave('/failing', 500);
      await waitFor('500 attempts', async () => (await deliveries(failing.id)).filter((d) => d.status_code === 500).length >= 2);

      // Then it recovers: every event arrives, in order, each accepted once.
      late.behave('/failing', 200);
      await waitFor('the recovered receiver to get every event', () => accepted(late, '/failing').length >= ids.length);
      const arrived = accepted(late, '/failing');
      expect(arrived.map(eventIdOf)).toEqual(ids);
      // Every request, failed or not, is signed with the subscription's secret and carries the event.
      for (const request of ofPath(late, '/failing')) {
        const payload = verify(request, failing.secret);
        expect(payload).toEqual({
          type: 'category.created',
          timestamp: expect.any(String),
          data: {
            id: eventIdOf(request),
            position: positions.get(eventIdOf(request)),
            type: 'category.created',
            product_id: null,
            data: expect.objectContaining({ id: expect.any(Number), name: expect.any(String) }),
            occurred_at: expect.any(String),
          },
        });
      }
      // First arrivals are in position order too (a request that timed out may be followed by its retry).
      const firsts = [...new Set(ofPath(late, '/failing').map(eventIdOf))];
      expect(firsts).toEqual(ids.slice(0, firsts.length));

      // The history: refusals and timeouts without a status, 500s, then one success per event.
      const history = (await deliveries(failing.id)).reverse();
      const first = history.filter((d) => d.event_id === ids[0]);
      expect(first.map((d) => d.attempt)).toEqual(first.map((_, i) => i + 1));
      expect(first.at(-1)).toMatchObject({ ok: true, status_code: 200, error: null });
      expect(history.filter((d) => d.ok).map((d) => d.event_id)).toEqual(ids);
      for (const d of history) {
        expect(d.latency_ms).toBeGreaterThanOrEqual(0);
        if (d.error === 'connection refused' || d.error === 'timeout') expect(d.status_code).toBeNull();
        if (d.status_code === 500) expect(d).toMatchObject({ ok: false, error: 'status 500' });
      }
      await waitFor('the failure state to clear', async () => (await hook(failing.id)).failures === 0);
      expect(await hook(failing.id)).toMatchObject({
        failures: 0,
        failing_since: null,
        last_error: null,
        next_attempt_at: null,
        position: positions.get(ids.at(-1)!),
      });
    });
    // The history pages by Link rel="next", newest first.
    const page = await client.request(`/webhooks/${failing.id}/deliveries?limit=3`);
    expect((await json(page)).map((d: Delivery) => d.event_id)).toEqual([ids[19], ids[18], ids[17]]);
    const next = page.headers.get('link')!.match(/^<([^>]+)>; rel="next"$/)![1]!;
    expect((await json(await client.request(next))).map((d: Delivery) => d.event_id)).toEqual([ids[16], ids[15], ids[14]]);
    await deleteHook(failing.id);
    await deleteHook(healthy.id);
  }, 60_000);

  test('more slow receivers than slots hold up neither a healthy one nor the API', async () => {
    const slow = receiver({ hangMs: 1500 });
    slow.behave('/slow', 'hang');
    // More of them than WEBHOOK_CONCURRENCY (4), each answering only after WEBHOOK_TIMEOUT_MS (500 ms).
    const stalled = [];
    for (let i = 0; i < 6; i++) stalled.push(await createHook(slow.url('/slow')));
    const good = receiver();
    const healthy = await createHook(good.url('/healthy'));
    await withDeliverer({}, async () => {
      const ids = await emitCategories(db, 5);
      await waitFor('the healthy receiver to get every event', () => accepted(good, '/healthy').length >= ids.length);
      expect(accepted(good, '/healthy').map(eventIdOf)).toEqual(ids);
      expect((await client.request('/webhooks?limit=10')).status).toBe(200);
      expect(accepted(slow, '/slow')).toEqual([]);
      expect(ofPath(slow, '/slow').length).toBeGreaterThan(0);
    });
    for (const h of [...stalled, healthy]) await deleteHook(h.id);
  }, 60_000);

  test('retries stop after WEBHOOK_GIVE_UP_AFTER_S: the subscription is disabled and says why; enabling resumes it', async () => {
    const port = await freePort();
    const dead = await createHook(`http://127.0.0.1:${port}/dead`);
    const good = receiver();
    const witness = await createHook(good.url('/witness'));
    await withDeliverer({ webhookGiveUpAfterS: 1 }, async () => {
      const [id] = await emitCategories(db, 1);
      const disabled = await waitFor('the subscription to be disabled', async () => {
        const h = await hook(dead.id);
        return h.enabled ? undefined : h;
      });
      expect(disabled.disabled_reason).toMatch(
        /^delivery failed since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+ attempts in a row\); the last error: connection refused$/,
      );
      expect(disabled.next_attempt_at).toBeNull();
      const tried = (await deliveries(dead.id)).length;
      expect(tried).toBeGreaterThanOrEqual(2);
      expect(disabled.disabled_reason).toContain(`(${tried} attempts in a row)`);

      // No more attempts: later events reach the other subscription, not this one.
      const [later] = await emitCategories(db, 1);
      await waitFor('the witness to get the later event', () => accepted(good, '/witness').some((r) => eventIdOf(r) === later));
      expect(await deliveries(dead.id)).toHaveLength(tried);

      // Enabled again, with a receiver now: both events arrive, in order.
      const back = receiver({ port });
      const resumed = await client.patch(`/webhooks/${dead.id}`, { enabled: true });
      expect(await json(resumed)).toMatchObject({ enabled: true, disabled_reason: null, failures: 0 });
      await waitFor('the resumed subscription to catch up', () => accepted(back, '/dead').length >= 2);
      expect(accepted(back, '/dead').map(eventIdOf)).toEqual([id!, later!]);
    });
    await deleteHook(dead.id);
    await deleteHook(witness.id);
  }, 60_000);
});

describe('what is delivered', () => {
  test('a subscription gets only its event types, in order; one without types gets every event', async () => {
    const r = receiver();
    const some = await createHook(r.url('/some'), ['product.created', 'category.deleted']);
    const every = await createHook(r.url('/every'));
    await withDeliverer({}, async () => {
      const [{ before }] = (await db.sql`SELECT coalesce(max(id), 0)::int AS before FROM events`) as unknown as [
        { before: number },
      ];
      const category = unique('Filtered');
      for (let i = 0; i < 2; i++) {
        expect((await client.post('/products', { name: unique('Filtered item'), price: 3, quantity: 4, category })).status).toBe(
          201,
        );
      }
      const other = await json(await client.post('/categories', { name: unique('Doomed') }));
      expect((await client.request(`/categories/${other.id}`, { method: 'DELETE' })).status).toBe(204);

      const written = await db.sql<{ id: number; type: string }[]>`SELECT id, type FROM events WHERE id > ${before} ORDER BY id`;
      await positionsOf(
        db,
        written.map((e) => e.id),
      );
      const published = await db.sql<{ id: number; type: string }[]>`
        SELECT id, type FROM events WHERE id > ${before} ORDER BY position`;
      // The types filtered on, and others (category.created, stock.adjusted...) that must not pass the filter.
      const types = new Set(published.map((e) => e.type));
      expect(types).toContain('product.created');
      expect(types).toContain('category.deleted');
      expect([...types].filter((t) => t !== 'product.created' && t !== 'category.deleted').length).toBeGreaterThan(1);
      const wanted = published.filter((e) => e.type === 'product.created' || e.type === 'category.deleted');
      await waitFor('every event', () => accepted(r, '/every').length >= published.length);
      await waitFor('the filtered events', () => accepted(r, '/some').length >= wanted.length);
      expect(accepted(r, '/every').map(eventIdOf)).toEqual(published.map((e) => e.id));
      expect(accepted(r, '/some').map(eventIdOf)).toEqual(wanted.map((e) => e.id));
      for (const x of accepted(r, '/some'))
        expect(['product.created', 'category.deleted']).toContain(verify(x, some.secret).type);
      for (const x of accepted(r, '/every')) verify(x, every.secret);
    });
    await deleteHook(some.id);
    await deleteHook(every.id);
  }, 60_000);

  test('after a rotation, messages carry both signatures until the grace period ends', async () => {
    const r = receiver();
    const h = await createHook(r.url('/rotating'));
    await withDeliverer({}, async () => {
      const nth = async (n: number): Promise<Received> => {
        await emitCategories(db, 1);
        await waitFor(`message ${n}`, () => accepted(r, '/rotating').length >= n);
        return accepted(r, '/rotating')[n - 1]!;
      };
      const before = await nth(1);
      expect(before.signature.split(' ')).toHaveLength(1);
      verify(before, h.secret);

      const rotated = await json(await client.post(`/webhooks/${h.id}/rotate-secret`, undefined));
      secrets.push(rotated.secret);
      const during = await nth(2);
      expect(during.signature.split(' ')).toHaveLength(2);
      expect(during.signature).toMatch(/^v1,\S+ v1,\S+$/);
      verify(during, h.secret);
      verify(during, rotated.secret);

      await db.sql`UPDATE webhooks SET previous_secret_until = now() - interval '1 second' WHERE id = ${h.id}`;
      const after = await nth(3);
      expect(after.signature.split(' ')).toHaveLength(1);
      verify(after, rotated.secret);
      expect(() => verify(after, h.secret)).toThrow('No matching signature found');
      expect(() => verify({ ...after, body: after.body.replace('category', 'kategory') }, rotated.secret)).toThrow();
    });
    await deleteHook(h.id);
  }, 60_000);

  test('receivers on private addresses are refused at delivery time too, without WEBHOOK_ALLOW_PRIVATE', async () => {
    const r = receiver();
    // Written while private addresses were allowed (or a name that has since moved to one).
    const h = await createHook(r.url('/private'));
    await withDeliverer({ webhookAllowPrivate: false }, async () => {
      await emitCategories(db, 1);
      await waitFor(
        'refused attempts',
        async () => (await deliveries(h.id)).filter((d) => d.error === 'address not allowed').length >= 2,
      );
    });
    expect(ofPath(r, '/private')).toEqual([]);
    expect(await hook(h.id)).toMatchObject({ last_error: 'address not allowed' });
    await withDeliverer({}, async () => {
      await waitFor('the delivery once allowed', () => accepted(r, '/private').length >= 1);
    });
    await deleteHook(h.id);
  }, 60_000);

  test('a replay delivers the events after the given position again, with the same webhook-ids', async () => {
    const r = receiver();
    const h = await createHook(r.url('/replayed'));
    await withDeliverer({}, async () => {
      const ids = await emitCategories(db, 5);
      const positions = await positionsOf(db, ids);
      await waitFor('the first delivery', () => accepted(r, '/replayed').length >= 5);
      const res = await client.post(`/webhooks/${h.id}/replay`, { after: positions.get(ids[1]!)! });
      expect(res.status).toBe(200);
      await waitFor('the replay', () => accepted(r, '/replayed').length >= 8);
      expect(accepted(r, '/replayed').map(eventIdOf)).toEqual([...ids, ...ids.slice(2)]);
      const [again] = accepted(r, '/replayed').slice(5);
      expect(again!.id).toBe(accepted(r, '/replayed')[2]!.id);
      expect(again!.body).toBe(accepted(r, '/replayed')[2]!.body);
    });
    await deleteHook(h.id);
  }, 60_000);
});

describe('leases', () => {
  test('a replay while an event is in flight takes the lease: the worker writes nothing more, the replay starts where it said', async () => {
    const r = receiver();
    const h = await createHook(r.url('/leased'));
    // The events and the receiver's behaviour first, the deliverer after: it must not deliver the
    // third event before the receiver holds it.
    const ids = await emitCategories(db, 5);
    const positions = await positionsOf(db, ids);
    let release: (status: number) => void = () => {};
    const held = new Promise<number>((resolve) => {
      release = resolve;
    });
    let holding = true;
    r.behave('/leased', (x) => (holding && eventIdOf(x) === ids[2] ? held : 200));
    await withDeliverer({ webhookTimeoutMs: 5000 }, async () => {
      await waitFor('the third event in flight', () => ofPath(r, '/leased').some((x) => eventIdOf(x) === ids[2]));
      const before = positions.get(ids[0]!)! - 1;
      expect((await client.post(`/webhooks/${h.id}/replay`, { after: before })).status).toBe(200);
      holding = false;
      release(200); // the old worker's success comes after the replay: it must not move the position
      await waitFor('the replay to end', () => accepted(r, '/leased').length >= 2 + 1 + 5);
      expect(accepted(r, '/leased').map(eventIdOf)).toEqual([ids[0]!, ids[1]!, ids[2]!, ...ids]);
      await waitFor('the position to reach the last event', async () => (await hook(h.id)).position === positions.get(ids[4]!));
    });
    await deleteHook(h.id);
  }, 60_000);
});

describe('trouble', () => {
  test('a database that cannot be reached is a warning, now and then, never an exception; stop still returns', async () => {
    const sql = createPool({
      databaseUrl: `postgres://nobody:pw@127.0.0.1:${await freePort()}/none`,
      poolMax: 2,
      connectTimeoutMs: 200,
    });
    let statements = 0;
    const counted = new Proxy(sql, {
      apply: (target, self, args) => {
        statements++;
        return Reflect.apply(target, self, args);
      },
    });
    const seen: string[] = [];
    const deliverer = startDeliverer({ sql: counted, config: configWith({ webhookPollMs: 10 }), logger: capturingLogger(seen) });
    try {
      // Many polls fail; the warning is not repeated every time.
      await waitFor('ten failed polls', () => statements >= 10);
    } finally {
      await deliverer.stop();
      await sql.end({ timeout: 1 });
    }
    expect(seen.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ level: 'warn', msg: 'webhook deliveries could not be claimed', error: expect.any(Object) }),
    ]);
  }, 60_000);
});

describe('logs', () => {
  test('never hold a secret or a signature', () => {
    const signatures = receivers.flatMap((r) => r.received.flatMap((x) => x.signature.split(' ').map((s) => s.slice(3))));
    expect(secrets.length).toBeGreaterThan(5);
    expect(signatures.length).toBeGreaterThan(50);
    const delivered = lines.filter((l) => JSON.parse(l).msg === 'webhook delivered');
    expect(delivered.length).toBeGreaterThan(50);
    expect(lines.some((l) => JSON.parse(l).msg === 'webhook delivery failed')).toBe(true);
    const keys = [...secrets, ...secrets.map((s) => s.slice('whsec_'.length)), ...signatures];
    const leaks = lines.filter((line) => keys.some((key) => line.includes(key)));
    expect(leaks).toEqual([]);
  });
});
