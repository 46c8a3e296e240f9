/**
 * With API keys, an Idempotency-Key belongs to the client whose key sent it:
 * two clients that pick the same key value each get their own effect and their
 * own replays; neither sees the other's answer nor is refused because of it.
 * The scope survives a change of the key list (it is a fingerprint of the key,
 * not its position).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createApp } from '../../src/app.ts';
import { checkedApp } from '../support/contract.ts';
import { keyFingerprint } from '../../src/http/auth.ts';
import { createLogger } from '../../src/logger.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

const ALICE = 'alice-0123456789abcdef';
const BOB = 'bob-0123456789abcdef';
const SHARED_KEY = 'order-1';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const appWith = (apiKeys: string[]) =>
  checkedApp(createApp({ sql: db.sql, config: { apiKeys }, logger: createLogger('silent') }));

const create = (app: ReturnType<typeof appWith>, apiKey: string, name: string) =>
  app.request('/products', {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'idempotency-key': SHARED_KEY },
    body: JSON.stringify({ name, price: 5, category: 'Per client' }),
  });

test('two clients using the same Idempotency-Key value each get their own product and their own replays', async () => {
  const app = appWith([ALICE, BOB]);
  const a = await create(app, ALICE, 'Alice product');
  const b = await create(app, BOB, 'Bob product');
  expect(a.status).toBe(201);
  expect(b.status).toBe(201);
  expect(b.headers.get('idempotent-replayed')).toBeNull();
  const [aBody, bBody] = [(await a.json()) as { id: number; name: string }, (await b.json()) as { id: number; name: string }];
  expect(aBody.name).toBe('Alice product');
  expect(bBody.name).toBe('Bob product');
  expect(bBody.id).not.toBe(aBody.id);

  // Each repeat replays its own client's answer, also after the key list changed order.
  const reordered = appWith([BOB, ALICE]);
  const aAgain = await create(reordered, ALICE, 'Alice product');
  const bAgain = await create(reordered, BOB, 'Bob product');
  expect(aAgain.headers.get('idempotent-replayed')).toBe('true');
  expect(bAgain.headers.get('idempotent-replayed')).toBe('true');
  expect(((await aAgain.json()) as { id: number }).id).toBe(aBody.id);
  expect(((await bAgain.json()) as { id: number }).id).toBe(bBody.id);

  const stored = await db.sql<
    { client: string }[]
  >`SELECT client FROM idempotency_keys WHERE key = ${SHARED_KEY} ORDER BY created_at`;
  expect(stored.map((r) => r.client)).toEqual([keyFingerprint(ALICE), keyFingerprint(BOB)]);
  // The stored identity is not the key itself.
  expect(stored.map((r) => r.client)).not.toContain(ALICE);
  const [count] = await db.sql<
    { n: number }[]
  >`SELECT count(*)::int AS n FROM products WHERE category_id = (SELECT id FROM categories WHERE name = 'Per client')`;
  expect(count!.n).toBe(2);
});
