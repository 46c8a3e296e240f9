/**
 * Retries: the delay after each failure in a row (retryDelayMs, with its
 * randomness given) is a random point in the upper half of a ceiling that
 * doubles from WEBHOOK_RETRY_BASE_MS up to WEBHOOK_RETRY_MAX_MS; the deliverer
 * waits those growing delays between attempts at a receiver answering 500;
 * and at the default WEBHOOK_GIVE_UP_AFTER_S (24 hours) a subscription failing
 * for 23 hours is tried again and stays enabled, one failing for 25 hours is
 * disabled, saying since when and why.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import type { Config } from '../../src/config.ts';
import { defaultConfig } from '../../src/config.ts';
import { retryDelayMs, startDeliverer } from '../../src/webhooks/deliverer.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { json } from '../support/values.ts';
import {
  capturingLogger,
  type Client,
  configWith,
  emitCategories,
  positionsOf,
  type Receiver,
  startPublishing,
  startReceiver,
  waitFor,
  webhookClient,
} from './support.ts';

/** A random number as close to 1 as Math.random comes. */
const ALMOST_ONE = 1 - Number.EPSILON;
const always = (value: number) => () => value;

describe('retryDelayMs', () => {
  test('random 0 gives half the ceiling, random near 1 the ceiling; the ceiling doubles from the base per failure', () => {
    const base = 100;
    const max = 1_000_000;
    const ceilings = [1, 2, 3, 4, 5, 6, 7].map((failures) => retryDelayMs(failures, base, max, always(ALMOST_ONE)));
    expect(ceilings).toEqual([100, 200, 400, 800, 1600, 3200, 6400]);
    const floors = [1, 2, 3, 4, 5, 6, 7].map((failures) => retryDelayMs(failures, base, max, always(0)));
    expect(floors).toEqual([50, 100, 200, 400, 800, 1600, 3200]);
    // Another base: the same doubling from it.
    expect([1, 2, 3].map((failures) => retryDelayMs(failures, 5000, max, always(ALMOST_ONE)))).toEqual([5000, 10_000, 20_000]);
  });

  test('the ceiling is capped at the maximum, however many failures (no overflow)', () => {
    const base = 100;
    const max = 1000;
    // 100, 200, 400, 800, then 1600 and beyond: capped.
    expect([4, 5, 6, 30, 1000, 1_000_000].map((f) => retryDelayMs(f, base, max, always(ALMOST_ONE)))).toEqual([
      800, 1000, 1000, 1000, 1000, 1000,
    ]);
    expect([5, 1_000_000].map((f) => retryDelayMs(f, base, max, always(0)))).toEqual([500, 500]);
    // The defaults: 5 s doubling to at most an hour, reached at the 11th failure in a row.
    const { webhookRetryBaseMs, webhookRetryMaxMs } = defaultConfig();
    expect(retryDelayMs(10, webhookRetryBaseMs, webhookRetryMaxMs, always(ALMOST_ONE))).toBe(2_560_000);
    expect(retryDelayMs(11, webhookRetryBaseMs, webhookRetryMaxMs, always(ALMOST_ONE))).toBe(3_600_000);
    expect(retryDelayMs(500, webhookRetryBaseMs, webhookRetryMaxMs, always(ALMOST_ONE))).toBe(3_600_000);
  });

  test('jitter: different randoms give different delays, within the upper half of the ceiling', () => {
    expect(retryDelayMs(3, 100, 10_000, always(0.25))).toBe(250);
    expect(retryDelayMs(3, 100, 10_000, always(0.75))).toBe(350);
    // Math.random by default: spread over the half, not one value.
    const delays = Array.from({ length: 200 }, () => retryDelayMs(3, 100, 10_000));
    expect(new Set(delays).size).toBeGreaterThan(10);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(200);
      expect(d).toBeLessThanOrEqual(400);
    }
  });

  test('for any settings and random, the delay lies in [ceiling/2, ceiling] and never shrinks as failures go on', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 10, max: 3_600_000 }),
        fc.integer({ min: 10, max: 86_400_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (failures, base, maxSetting, r) => {
          const max = Math.max(base, maxSetting);
          const ceiling = Math.min(max, base * 2 ** (failures - 1));
          const delay = retryDelayMs(failures, base, max, always(r));
          expect(delay).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
          expect(delay).toBeLessThanOrEqual(Math.ceil(ceiling));
          expect(retryDelayMs(failures + 1, base, max, always(r))).toBeGreaterThanOrEqual(delay);
        },
      ),
    );
  });
});

// ---------------------------------------------------------------- through the deliverer

let db: TestDatabase;
let client: Client;
let publisher: { stop: () => Promise<void> };
const receivers: Receiver[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  client = webhookClient(db);
  publisher = startPublishing(db.adminUrl);
});
afterAll(async () => {
  await publisher?.stop();
  await Promise.all(receivers.map((r) => r.stop()));
  await db?.drop();
});

function receiver() {
  const r = startReceiver();
  receivers.push(r);
  return r;
}

/** Runs `fn` with a deliverer of these settings (its log lines in `lines`), stopped afterwards whatever happens. */
async function withDeliverer(overrides: Partial<Config>, lines: string[], fn: () => Promise<void>) {
  const deliverer = startDeliverer({ sql: db.sql, config: configWith(overrides), logger: capturingLogger(lines) });
  try {
    await fn();
  } finally {
    await deliverer.stop();
  }
}

async function createHook(url: string): Promise<{ id: number; secret: string }> {
  const res = await client.post('/webhooks', { url });
  expect(res.status).toBe(201);
  return json(res);
}

const hook = async (id: number) => json(await client.request(`/webhooks/${id}`));

type Attempt = { event_id: number; attempt: number; status_code: number | null; ok: boolean; at_us: number };

/** A subscription's attempts, oldest first, with their times to the microsecond (the database's clock). */
const attempts = (id: number) =>
  db.sql<Attempt[]>`
    SELECT event_id, attempt, status_code, ok,
           (extract(epoch FROM attempted_at) * 1000000)::bigint AS at_us
    FROM webhook_deliveries WHERE webhook_id = ${id} ORDER BY id`;

describe('the deliverer retrying a receiver that answers 500', () => {
  test('waits a growing delay after each failure, jittered within its ceiling, capped; never tries before the delay is over', async () => {
    const base = 100;
    const max = 800;
    const r = receiver();
    r.behave('/failing', 500);
    const h = await createHook(r.url('/failing'));
    const lines: string[] = [];
    const failed = () =>
      lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'webhook delivery failed' && l.webhook_id === h.id) as {
        attempt: number;
        retry_in_ms: number;
      }[];
    await withDeliverer({ webhookRetryBaseMs: base, webhookRetryMaxMs: max }, lines, async () => {
      const [id] = await emitCategories(db, 1);
      await positionsOf(db, [id!]);
      // Ceilings 100, 200, 400, 800, then 800 (capped).
      await waitFor('six failed attempts', () => failed().length >= 6, 30_000);
    });
    const logged = failed();
    expect(logged.map((l) => l.attempt)).toEqual(logged.map((_, i) => i + 1));
    const delays = logged.map((l) => l.retry_in_ms);
    delays.forEach((delay, i) => {
      const ceiling = Math.min(max, base * 2 ** i);
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delay).toBeLessThanOrEqual(ceiling);
    });
    // Growing while below the cap: each delay is past the one before.
    for (let i = 1; i < 4; i++) expect(delays[i]!).toBeGreaterThan(delays[i - 1]!);

    // The attempts, as recorded: one event, 500 each time, numbered on.
    const history = await attempts(h.id);
    expect(history).toHaveLength(logged.length);
    expect(history.map((a) => a.attempt)).toEqual(history.map((_, i) => i + 1));
    for (const a of history) expect(a).toMatchObject({ status_code: 500, ok: false });
    // No attempt came before the delay the previous failure set was over (by the database's clock).
    for (let i = 1; i < logged.length; i++) {
      expect(history[i]!.at_us - history[i - 1]!.at_us).toBeGreaterThanOrEqual(delays[i - 1]! * 1000);
    }
    // And the delay logged is the one written: the next attempt is due that long after the last one.
    const [state] = await db.sql<{ due_in_us: number; failures: number }[]>`
      SELECT w.failures, (extract(epoch FROM w.next_attempt_at - d.attempted_at) * 1000000)::bigint AS due_in_us
      FROM webhooks w,
           LATERAL (SELECT attempted_at FROM webhook_deliveries WHERE webhook_id = w.id ORDER BY id DESC LIMIT 1) d
      WHERE w.id = ${h.id}`;
    expect(state!.failures).toBe(history.length);
    expect(state!.due_in_us).toBe(delays.at(-1)! * 1000);
    expect((await hook(h.id)).enabled).toBe(true);
  }, 60_000);
});

describe('giving up at the default WEBHOOK_GIVE_UP_AFTER_S (24 hours)', () => {
  test('failing for 23 hours: tried again, still enabled; for 25 hours: disabled after one more failure, saying since when and why', async () => {
    expect(defaultConfig().webhookGiveUpAfterS).toBe(86_400);
    expect(configWith().webhookGiveUpAfterS).toBe(86_400);
    const r = receiver();
    r.behave('/23h', 500);
    r.behave('/25h', 500);
    const young = await createHook(r.url('/23h'));
    const old = await createHook(r.url('/25h'));
    // Both have failed 40 times in a row, for 23 and 25 hours; both are due now.
    for (const [id, hours] of [
      [young.id, 23],
      [old.id, 25],
    ] as const) {
      await db.admin`
        UPDATE webhooks SET failures = 40, failing_since = now() - make_interval(hours => ${hours}),
          last_error = 'status 500', next_attempt_at = now()
        WHERE id = ${id}`;
    }
    const sinceOf = async (id: number) =>
      (await db.sql<{ since: string }[]>`SELECT failing_since AS since FROM webhooks WHERE id = ${id}`)[0]!.since;
    const youngSince = await sinceOf(young.id);
    const oldSince = await sinceOf(old.id);

    await withDeliverer({}, [], async () => {
      const [id] = await emitCategories(db, 1);
      await positionsOf(db, [id!]);
      await waitFor(
        'one more failure each',
        async () => (await attempts(young.id)).length >= 1 && (await attempts(old.id)).length >= 1,
      );
    });

    const stillTrying = await hook(young.id);
    expect(stillTrying).toMatchObject({ enabled: true, disabled_reason: null, last_error: 'status 500' });
    expect(stillTrying.failures).toBeGreaterThanOrEqual(41);
    expect(stillTrying.next_attempt_at).not.toBeNull();
    expect(await sinceOf(young.id)).toEqual(youngSince);
    expect((await attempts(young.id))[0]).toMatchObject({ attempt: 41, status_code: 500, ok: false });

    const disabled = await hook(old.id);
    const since = `${new Date(oldSince).toISOString().slice(0, 19)}Z`;
    expect(disabled).toMatchObject({
      enabled: false,
      failures: 41,
      last_error: 'status 500',
      next_attempt_at: null,
      disabled_reason: `delivery failed since ${since} (41 attempts in a row); the last error: status 500`,
    });
    expect(await sinceOf(old.id)).toEqual(oldSince);
    // One attempt, then no more.
    expect([...(await attempts(old.id))]).toEqual([expect.objectContaining({ attempt: 41, status_code: 500, ok: false })]);
    expect(r.received.filter((x) => x.path === '/25h')).toHaveLength(1);
  }, 60_000);
});
