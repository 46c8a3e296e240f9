/**
 * The subscription API: create, read, list, edit, delete, rotate the secret,
 * replay; the secret shown only when it is made; and what is refused (422)
 * with nothing written.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { expectProblem } from '../support/problem.ts';
import { json } from '../support/values.ts';
import { type Client, webhookClient } from './support.ts';

let db: TestDatabase;
/** WEBHOOK_ALLOW_PRIVATE=true, as for local use. */
let local: Client;
/** The default: receivers on public addresses only. */
let strict: Client;

beforeAll(async () => {
  db = await createTestDatabase();
  local = webhookClient(db);
  strict = webhookClient(db, { webhookAllowPrivate: false });
});
afterAll(async () => {
  await db?.drop();
});

const RECEIVER = 'http://127.0.0.1:9/hooks';
const PUBLIC = 'https://8.8.8.8/hooks';

async function create(body: Record<string, unknown> = {}, client = local) {
  const res = await client.post('/webhooks', { url: RECEIVER, ...body });
  expect(res.status).toBe(201);
  return json(res);
}

const count = async () => (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM webhooks`)[0]!.n;

describe('create and read', () => {
  test('answers 201 with the secret, once; reads never show it', async () => {
    const [{ last }] = (await db.sql`SELECT last_position AS last FROM event_publisher`) as unknown as [{ last: number }];
    const res = await local.post('/webhooks', {
      url: RECEIVER,
      event_types: ['stock.low_stock', 'stock.out_of_stock', 'stock.low_stock'],
      description: 'Reorder service',
    });
    expect(res.status).toBe(201);
    const created = await json(res);
    expect(res.headers.get('location')).toBe(`/webhooks/${created.id}`);
    expect(created).toMatchObject({
      url: RECEIVER,
      event_types: ['stock.low_stock', 'stock.out_of_stock'],
      description: 'Reorder service',
      enabled: true,
      disabled_reason: null,
      position: last,
      failures: 0,
      next_attempt_at: null,
      previous_secret_expires_at: null,
    });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const one = await local.request(`/webhooks/${created.id}`);
    expect(one.status).toBe(200);
    const text = await one.text();
    expect(text).not.toContain(created.secret);
    expect(text).not.toContain('whsec_');
    expect(JSON.parse(text)).not.toHaveProperty('secret');
    const { secret: _, ...shown } = created;
    expect(JSON.parse(text)).toEqual(shown);

    const listed = await local.request('/webhooks?limit=1000');
    const listText = await listed.text();
    expect(listText).not.toContain('whsec_');
    expect(JSON.parse(listText).map((w: { id: number }) => w.id)).toContain(created.id);
  });

  test('lists by id in keyset pages', async () => {
    const ids = [(await create()).id, (await create()).id, (await create()).id];
    const seen: number[] = [];
    let next: string | undefined = '/webhooks?limit=2';
    while (next) {
      const res = await local.request(next);
      expect(res.status).toBe(200);
      seen.push(...(await json(res)).map((w: { id: number }) => w.id));
      next = res.headers.get('link')?.match(/^<([^>]+)>; rel="next"$/)?.[1];
    }
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen).toEqual(expect.arrayContaining(ids));
    expect(new Set(seen).size).toBe(seen.length);
    await expectProblem(await local.request('/webhooks?cursor=bm90LWEtY3Vyc29y'), 422, 'validation_failed');
  });

  test('an unknown id is 404', async () => {
    await expectProblem(await local.request('/webhooks/999999'), 404, 'not_found');
    await expectProblem(await local.patch('/webhooks/999999', { enabled: false }), 404, 'not_found');
    await expectProblem(await local.request('/webhooks/999999', { method: 'DELETE' }), 404, 'not_found');
    await expectProblem(await local.post('/webhooks/999999/rotate-secret', {}), 404, 'not_found');
    await expectProblem(await local.request('/webhooks/999999/deliveries'), 404, 'not_found');
    await expectProblem(await local.post('/webhooks/999999/replay', { after: 0 }), 404, 'not_found');
  });

  test('an Idempotency-Key replays the same answer, secret included, to the same client; one subscription is made', async () => {
    const before = await count();
    const first = await local.post('/webhooks', { url: RECEIVER }, { 'idempotency-key': 'hook-create-1' });
    const again = await local.post('/webhooks', { url: RECEIVER }, { 'idempotency-key': 'hook-create-1' });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(await first.json());
    expect(await count()).toBe(before + 1);
  });
});

describe('edit, rotate, delete', () => {
  test('PATCH changes the fields present; enabling forgets the failures and the reason', async () => {
    const hook = await create({ description: 'first' });
    await db.sql`
      UPDATE webhooks SET enabled = false, failures = 9, failing_since = now() - interval '2 days', last_error = 'timeout',
        disabled_reason = 'delivery failed since ...' WHERE id = ${hook.id}`;
    const typed = await local.patch(`/webhooks/${hook.id}`, { event_types: ['product.created'], description: null });
    expect(typed.status).toBe(200);
    expect(await json(typed)).toMatchObject({
      event_types: ['product.created'],
      description: null,
      enabled: false,
      failures: 9,
      disabled_reason: 'delivery failed since ...',
    });
    const enabled = await json(await local.patch(`/webhooks/${hook.id}`, { enabled: true }));
    expect(enabled).toMatchObject({
      enabled: true,
      failures: 0,
      failing_since: null,
      last_error: null,
      disabled_reason: null,
      event_types: ['product.created'],
    });
    const moved = await json(await local.patch(`/webhooks/${hook.id}`, { url: 'http://127.0.0.1:10/other', event_types: [] }));
    expect(moved).toMatchObject({ url: 'http://127.0.0.1:10/other', event_types: [] });
    await local.patch(`/webhooks/${hook.id}`, { event_types: ['stock.adjusted'] });
    // A merge patch's null removes the filter: every type.
    expect(await json(await local.patch(`/webhooks/${hook.id}`, { event_types: null }))).toMatchObject({ event_types: [] });
    expect(Date.parse(moved.updated_at)).toBeGreaterThanOrEqual(Date.parse(hook.updated_at));
  });

  test('rotating gives a new secret, shown once; the previous one signs for 24 hours', async () => {
    const hook = await create();
    const res = await local.post(`/webhooks/${hook.id}/rotate-secret`, undefined);
    expect(res.status).toBe(200);
    const rotated = await json(res);
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(hook.secret);
    const hours = (Date.parse(rotated.previous_secret_expires_at) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(23.9);
    expect(hours).toBeLessThanOrEqual(24);
    const [row] = await db.sql`SELECT secret, previous_secret FROM webhooks WHERE id = ${hook.id}`;
    expect(row).toEqual({ secret: rotated.secret, previous_secret: hook.secret });
    const read = await (await local.request(`/webhooks/${hook.id}`)).text();
    expect(read).not.toContain(rotated.secret);
    expect(read).not.toContain(hook.secret);
  });

  test('DELETE removes the subscription and its history', async () => {
    const hook = await create();
    await db.sql`
      INSERT INTO webhook_deliveries (webhook_id, event_id, event_position, attempt, status_code, latency_ms, ok)
      VALUES (${hook.id}, 1, 1, 1, 200, 5, true)`;
    expect((await local.request(`/webhooks/${hook.id}`, { method: 'DELETE' })).status).toBe(204);
    await expectProblem(await local.request(`/webhooks/${hook.id}`), 404, 'not_found');
    const [{ n }] =
      (await db.sql`SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = ${hook.id}`) as unknown as [
        { n: number },
      ];
    expect(n).toBe(0);
  });
});

describe('refused with 422, nothing written', () => {
  test.each([
    ['another scheme', 'ftp://127.0.0.1/hooks', 'must be an http or https URL'],
    ['a script', 'javascript:alert(1)', 'must be an http or https URL'],
    ['no scheme', '127.0.0.1/hooks', 'must be an absolute http or https URL'],
    ['a user and password', 'https://user:pass@127.0.0.1/hooks', 'must not contain a user name or password'],
    ['a user', 'https://token@127.0.0.1/hooks', 'must not contain a user name or password'],
    ['2001 characters', `https://127.0.0.1/${'a'.repeat(1983)}`, 'must be at most 2000 characters'],
  ])('a URL with %s', async (_, url, message) => {
    const before = await count();
    const body = await expectProblem(await local.post('/webhooks', { url }), 422, 'validation_failed');
    expect(body.errors).toEqual([{ path: 'url', message }]);
    expect(await count()).toBe(before);
  });

  test('an unknown event type, an unknown field, a long description', async () => {
    const before = await count();
    const types = await expectProblem(
      await local.post('/webhooks', { url: RECEIVER, event_types: ['stock.adjusted', 'stock.teleported'] }),
      422,
      'validation_failed',
    );
    expect(types.errors).toEqual([{ path: 'event_types.1', message: expect.stringContaining('must be one of product.created') }]);
    const extra = await expectProblem(
      await local.post('/webhooks', { url: RECEIVER, secret: 'whsec_x' }),
      422,
      'validation_failed',
    );
    expect(extra.errors).toEqual([{ path: 'secret', message: 'unknown field' }]);
    await expectProblem(await local.post('/webhooks', { url: RECEIVER, description: 'x'.repeat(501) }), 422, 'validation_failed');
    expect(await count()).toBe(before);
  });

  test.each([
    ['http://127.0.0.1:8080/hooks', '127.0.0.1 is a loopback address'],
    ['http://localhost:8080/hooks', 'localhost resolves to 127.0.0.1, a loopback address'],
    ['http://10.0.0.7/hooks', '10.0.0.7 is a private address'],
    ['http://192.168.1.20/hooks', '192.168.1.20 is a private address'],
    ['http://169.254.169.254/latest/meta-data', '169.254.169.254 is the cloud metadata address'],
    ['http://[::1]/hooks', '::1 is a loopback address'],
    ['http://[::ffff:10.0.0.1]/hooks', 'is a private address'],
    ['http://[fd00::1]/hooks', 'fd00::1 is a unique local address'],
    ['http://0.0.0.0/hooks', '0.0.0.0 is an unspecified address'],
    ['http://100.64.0.1/hooks', '100.64.0.1 is a carrier-grade NAT address'],
  ])('without WEBHOOK_ALLOW_PRIVATE, %p is refused: address_not_allowed', async (url, detail) => {
    const before = await count();
    const body = await expectProblem(await strict.post('/webhooks', { url }), 422, 'address_not_allowed');
    expect(body.detail).toContain(detail);
    expect(await count()).toBe(before);
  });

  test('a host that does not resolve is refused: host_not_found', async () => {
    const body = await expectProblem(
      await strict.post('/webhooks', { url: 'https://hooks.example.invalid/x' }),
      422,
      'host_not_found',
    );
    expect(body.detail).toContain('hooks.example.invalid');
  });

  test('a public address is taken; a PATCH to a private one is refused and changes nothing', async () => {
    const hook = await create({ url: PUBLIC }, strict);
    expect(hook.url).toBe(PUBLIC);
    await expectProblem(
      await strict.patch(`/webhooks/${hook.id}`, { url: 'http://localhost/x', enabled: false }),
      422,
      'address_not_allowed',
    );
    expect(await json(await strict.request(`/webhooks/${hook.id}`))).toMatchObject({ url: PUBLIC, enabled: true });
  });
});

describe('replay', () => {
  test('moves the position back, forgets the failures, and only to a published position', async () => {
    const hook = await create();
    await db.admin`INSERT INTO categories (name) VALUES ('Replay A'), ('Replay B')`;
    await db.sql`SELECT events_publish()`;
    const [{ last }] = (await db.sql`SELECT last_position AS last FROM event_publisher`) as unknown as [{ last: number }];
    await db.sql`UPDATE webhooks SET position = ${last}, failures = 3, failing_since = now(), last_error = 'timeout' WHERE id = ${hook.id}`;

    const res = await local.post(`/webhooks/${hook.id}/replay`, { after: last - 2 });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({
      id: hook.id,
      position: last - 2,
      failures: 0,
      last_error: null,
      failing_since: null,
    });

    const beyond = await expectProblem(
      await local.post(`/webhooks/${hook.id}/replay`, { after: last + 1 }),
      422,
      'validation_failed',
    );
    expect(beyond.errors).toEqual([{ path: 'after', message: `must be at most the last published position, ${last}` }]);
    for (const after of [-1, 1.5, '3', null]) {
      const bad = await expectProblem(await local.post(`/webhooks/${hook.id}/replay`, { after }), 422, 'validation_failed');
      expect(bad.errors[0].path).toBe('after');
    }
    await expectProblem(await local.post(`/webhooks/${hook.id}/replay`, {}), 422, 'validation_failed');
    expect((await json(await local.request(`/webhooks/${hook.id}`))).position).toBe(last - 2);
  });
});

describe('history retention', () => {
  test('webhook_deliveries_prune deletes attempts older than `keep`, oldest first, at most `batch` at a time', async () => {
    const hook = await create();
    await db.sql`
      INSERT INTO webhook_deliveries (webhook_id, event_id, event_position, attempt, status_code, latency_ms, ok, attempted_at)
      SELECT ${hook.id}, g, g, 1, 200, 5, true, now() - make_interval(days => 40 - g) FROM generate_series(1, 12) g`;
    const left = async () =>
      (
        await db.sql<{ event_id: number }[]>`
          SELECT event_id FROM webhook_deliveries WHERE webhook_id = ${hook.id} ORDER BY event_id`
      ).map((r) => r.event_id);
    // Attempts 1..10 are 39 to 30 days old; 11 and 12, 29 and 28.
    const [first] = await db.sql<
      { n: number }[]
    >`SELECT webhook_deliveries_prune(interval '30 days' - interval '1 hour', 4) AS n`;
    expect(first!.n).toBe(4);
    expect(await left()).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
    const [rest] = await db.sql<
      { n: number }[]
    >`SELECT webhook_deliveries_prune(interval '30 days' - interval '1 hour', 100) AS n`;
    expect(rest!.n).toBe(6);
    expect(await left()).toEqual([11, 12]);
  });
});

describe('keys', () => {
  test('with API_KEYS, reading subscriptions needs a key too', async () => {
    const key = 'webhook-admin-0123456789';
    const keyed = webhookClient(db, { apiKeys: [key] });
    await expectProblem(await keyed.request('/webhooks'), 401, 'unauthorized');
    await expectProblem(await keyed.post('/webhooks', { url: RECEIVER }), 401, 'unauthorized');
    const res = await keyed.request('/webhooks', { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
  });
});
