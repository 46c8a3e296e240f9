/**
 * `bun run worker` delivers webhooks: beside an API process started with
 * BACKGROUND_JOBS=false, which delivers nothing, the worker (src/worker.ts, a
 * process of its own on the same database) delivers a subscription's events,
 * signed per Standard Webhooks; its start-up line names the jobs
 * src/background.ts starts, webhook delivery among them.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { JOBS } from '../../src/background.ts';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import { HEADER_SIZE_FLAG } from '../../src/server.ts';
import { documentedFetch } from '../support/contract.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import {
  alive,
  answering,
  emitCategories,
  eventIdOf,
  holdsOff,
  logged,
  PROCESS_ENV,
  positionsOf,
  type Proc,
  type Receiver,
  spawnLogged,
  startPublishing,
  startReceiver,
  verify,
  waitFor,
} from './support.ts';

let db: TestDatabase;
let receiver: Receiver;
let publisher: { stop: () => Promise<void> };
const procs: Proc[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = startReceiver();
  // Events are published (as any process with background jobs would) whether or not a worker runs.
  publisher = startPublishing(db.adminUrl);
});
afterAll(async () => {
  for (const p of procs) if (alive(p)) p.proc.kill('SIGTERM');
  await Promise.all(procs.map((p) => p.proc.exited));
  await publisher?.stop();
  await receiver?.stop();
  await db?.drop();
}, 30_000);

function spawn(name: string, cmd: string[], env: Record<string, string>): Proc {
  const p = spawnLogged(name, cmd, { ...PROCESS_ENV, DATABASE_URL: db.url, ...env });
  procs.push(p);
  return p;
}

/** Connections of background pools (each process's is called inventory-background). */
const backgroundConnections = async () =>
  (
    await db.admin<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'inventory-background'`
  )[0]!.n;

test('with BACKGROUND_JOBS=false the API delivers nothing; `bun run worker` delivers every event, signed, and says it runs webhook delivery', async () => {
  const port = await freePort();
  const api = spawn('the API', ['bun', HEADER_SIZE_FLAG, 'src/server.ts'], { PORT: String(port), BACKGROUND_JOBS: 'false' });
  await answering(api, port);
  const created = await documentedFetch(`http://127.0.0.1:${port}/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url: receiver.url('/worker') }),
  });
  expect(created.status).toBe(201);
  const hook = (await created.json()) as { id: number; secret: string; position: number };
  const ids = await emitCategories(db, 25);
  const positions = await positionsOf(db, ids);

  // Published, due, and nobody delivers: the API process polls nothing (it has no background pool).
  await holdsOff('a request to the receiver without a worker', () => receiver.received.length > 0, 2000);
  expect(await backgroundConnections()).toBe(0);
  const [idle] = await db.sql<{ position: number; owner: string | null }[]>`
    SELECT position, lease_owner AS owner FROM webhooks WHERE id = ${hook.id}`;
  expect(idle).toEqual({ position: hook.position, owner: null });
  expect(logged(api, 'webhook delivered')).toEqual([]);

  // The worker, told BACKGROUND_JOBS=false like the API: it runs the jobs anyway.
  const worker = spawn('the worker', ['bun', 'run', 'worker'], { BACKGROUND_JOBS: 'false' });
  const started = await waitFor('the worker to start', () => logged(worker, 'worker started')[0]);
  expect(started.jobs).toEqual(Object.keys(JOBS));
  expect(started.jobs).toContain('webhooks_deliver');
  expect(started.jobs).toContain('webhook_deliveries_prune');

  await waitFor('every event at the receiver', () => receiver.received.filter((r) => r.answered === 200).length >= ids.length);
  const received = receiver.received;
  // Each event once, in order, signed with the subscription's secret, carrying the event.
  expect(received.map(eventIdOf)).toEqual(ids);
  for (const request of received) {
    const payload = verify(request, hook.secret);
    expect(payload).toMatchObject({
      type: 'category.created',
      data: { id: eventIdOf(request), position: positions.get(eventIdOf(request)), type: 'category.created' },
    });
  }
  // Delivered by the worker, not by the API.
  await waitFor('the worker to log every delivery', () => logged(worker, 'webhook delivered').length >= ids.length);
  expect(logged(worker, 'webhook delivered').map((l) => l.event_id)).toEqual(ids);
  expect(logged(api, 'webhook delivered')).toEqual([]);
  const [done] = await db.sql<{ position: number; failures: number }[]>`
    SELECT position, failures FROM webhooks WHERE id = ${hook.id}`;
  expect(done).toEqual({ position: positions.get(ids.at(-1)!)!, failures: 0 });

  worker.proc.kill('SIGTERM');
  expect(await worker.proc.exited).toBe(0);
  api.proc.kill('SIGTERM');
  expect(await api.proc.exited).toBe(0);
}, 60_000);
