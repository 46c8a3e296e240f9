/**
 * The receiver the README shows (examples/webhook-receiver.ts, the README's
 * code block being that file exactly), run as a user would run it, against
 * real deliveries: it accepts what the service signs, handles each webhook-id
 * once though a replay brings every message again, and answers 401 to a
 * missing or wrong signature, a changed body or an old timestamp.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import { startDeliverer } from '../../src/webhooks/deliverer.ts';
import { messageBody, newSecret, signedHeaders } from '../../src/webhooks/signing.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { json } from '../support/values.ts';
import {
  alive,
  capturingLogger,
  type Client,
  configWith,
  emitCategories,
  positionsOf,
  type Proc,
  ROOT,
  spawnLogged,
  startPublishing,
  waitFor,
  webhookClient,
} from './support.ts';

const EXAMPLE = 'examples/webhook-receiver.ts';

let db: TestDatabase;
let client: Client;
let publisher: { stop: () => Promise<void> };
let example: Proc | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  client = webhookClient(db);
  publisher = startPublishing(db.adminUrl);
});
afterAll(async () => {
  if (example && alive(example)) example.proc.kill('SIGTERM');
  await example?.proc.exited;
  await publisher?.stop();
  await db?.drop();
}, 30_000);

test("the README's receiver is examples/webhook-receiver.ts, exactly", () => {
  const readme = readFileSync(`${ROOT}/README.md`, 'utf8');
  const link = readme.indexOf(`(${EXAMPLE})`);
  expect(link).toBeGreaterThan(0);
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(link))![1];
  expect(block).toBe(readFileSync(`${ROOT}/${EXAMPLE}`, 'utf8'));
});

test('run as is, it handles each delivered event once, through a replay, and refuses what is not signed with its secret', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/inventory`;
  const created = await client.post('/webhooks', { url });
  expect(created.status).toBe(201);
  const hook = await json(created);
  example = spawnLogged('the example receiver', ['bun', EXAMPLE], { WEBHOOK_SECRET: hook.secret, PORT: String(port) });
  const post = (body: string, headers: Record<string, string>) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }).then(
      (r) => r.status,
      () => 0,
    );
  await waitFor('the example to listen', async () => {
    if (!alive(example!)) throw new Error(`the example exited (${example!.proc.exitCode})`);
    return fetch(url).then(
      (r) => r.status === 405,
      () => false,
    );
  });

  // What is not signed with the subscription's secret, now, over this very body: 401.
  const event = {
    id: 999_999,
    position: 1,
    type: 'category.created',
    product_id: null,
    data: {},
    occurred_at: '2026-01-01T00:00:00Z',
  };
  const body = messageBody(event);
  expect(await post(body, {})).toBe(401);
  expect(await post(body, signedHeaders(event, body, [newSecret()], new Date()))).toBe(401);
  expect(await post(body.replace('category', 'kategory'), signedHeaders(event, body, [hook.secret], new Date()))).toBe(401);
  expect(await post(body, signedHeaders(event, body, [hook.secret], new Date(Date.now() - 10 * 60_000)))).toBe(401);

  /** What the example handled: its output's lines. */
  const handled = () =>
    example!.lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as { webhook_id: string; type: string; position: number }];
      } catch {
        return [];
      }
    });
  const deliverer = startDeliverer({ sql: db.sql, config: configWith(), logger: capturingLogger() });
  try {
    const ids = await emitCategories(db, 5);
    const positions = await positionsOf(db, ids);
    await waitFor('the five events handled', () => handled().length >= 5);

    // A replay brings all five again, accepted (2xx) by the example...
    const replay = await client.post(`/webhooks/${hook.id}/replay`, { after: positions.get(ids[0]!)! - 1 });
    expect(replay.status).toBe(200);
    const accepted = async () =>
      db.sql<{ event_id: number; status_code: number }[]>`
        SELECT event_id, status_code FROM webhook_deliveries WHERE webhook_id = ${hook.id} AND ok ORDER BY id`;
    await waitFor('the replay accepted', async () => (await accepted()).length >= 10);
    expect((await accepted()).map((d) => d.event_id)).toEqual([...ids, ...ids]);
    expect(new Set((await accepted()).map((d) => d.status_code))).toEqual(new Set([204]));
    // ...and handled once: once a later event's line is out, every line before it is.
    const [later] = await emitCategories(db, 1);
    await waitFor('the later event handled', () => handled().some((h) => h.webhook_id === `evt_${later}`));
    const all = [...ids, later!];
    const allPositions = await positionsOf(db, all);
    expect(handled()).toEqual(
      all.map((id) => ({ webhook_id: `evt_${id}`, type: 'category.created', position: allPositions.get(id)! })),
    );
  } finally {
    await deliverer.stop();
  }
  // Nothing it refused was handled, and the service saw no failure.
  const [failed] = await db.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM webhook_deliveries WHERE webhook_id = ${hook.id} AND NOT ok`;
  expect(failed!.n).toBe(0);
  example.proc.kill('SIGTERM');
  await example.proc.exited;
}, 60_000);
