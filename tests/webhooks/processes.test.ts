/**
 * Delivery by real server processes (src/server.ts, each its own process)
 * against one database: two of them deliver at once and no event is delivered
 * by both; one killed with SIGKILL while its receiver holds a request open,
 * then started again, loses nothing, and what arrives twice arrives with the
 * same webhook-id (and the same body); and the same when the killed process
 * was the only one delivering: nothing else runs until a new one starts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import { documentedFetch } from '../support/contract.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import {
  alive,
  answering,
  emitCategories,
  eventIdOf,
  logged,
  PROCESS_ENV,
  positionsOf,
  type Proc,
  type Received,
  type Receiver,
  spawnServer,
  startPublishing,
  startReceiver,
  verify,
  waitFor,
} from './support.ts';

type Server = Proc & { port: number };

let db: TestDatabase;
let receiver: Receiver;
let publisher: { stop: () => Promise<void> };
const servers: Server[] = [];

/** Starts `bun src/server.ts` on `port`, delivering webhooks, its log lines kept. */
function startServer(name: string, port: number): Server {
  const server = {
    ...spawnServer(name, {
      ...PROCESS_ENV,
      DATABASE_URL: db.url,
      PORT: String(port),
    }),
    port,
  };
  servers.push(server);
  return server;
}

const ready = (server: Server) => answering(server, server.port);

/** How many events this server's process logged as delivered. */
const deliveredBy = (server: Server) => logged(server, 'webhook delivered').length;

async function subscribe(server: Server, path: string): Promise<{ id: number; secret: string }> {
  const res = await documentedFetch(`http://127.0.0.1:${server.port}/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url: receiver.url(path) }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: number; secret: string };
}

const ofPath = (path: string) => receiver.received.filter((r) => r.path === path);
const accepted = (path: string) => ofPath(path).filter((r) => r.answered >= 200 && r.answered < 300);

let a: Server;
let b: Server;

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = startReceiver();
  publisher = startPublishing(db.adminUrl);
  a = startServer('a', await freePort());
  b = startServer('b', await freePort());
  await Promise.all([ready(a), ready(b)]);
}, 60_000);

afterAll(async () => {
  for (const s of servers) if (alive(s)) s.proc.kill('SIGTERM');
  await Promise.all(servers.map((s) => s.proc.exited));
  await publisher?.stop();
  await receiver?.stop();
  await db?.drop();
}, 30_000);

describe('two server processes', () => {
  test('deliver a few hundred events each to four subscriptions at once: every event once, in order, none by both', async () => {
    const paths = ['/s1', '/s2', '/s3', '/s4'];
    const hooks = await Promise.all(paths.map((path, i) => subscribe(i % 2 ? b : a, path)));
    const ids: number[] = [];
    for (let batch = 0; batch < 3; batch++) ids.push(...(await emitCategories(db, 100)));
    await positionsOf(db, ids);
    await waitFor('every subscription to get every event', () => paths.every((p) => accepted(p).length >= ids.length), 60_000);
    paths.forEach((path, i) => {
      const all = ofPath(path);
      // No request was ever sent twice: not by one process, not by both.
      expect(all.map(eventIdOf)).toEqual(ids);
      for (const request of all) verify(request, hooks[i]!.secret);
    });
    // Both processes delivered (their log lines arrive a little after the answers).
    await waitFor('the log lines', () => deliveredBy(a) + deliveredBy(b) >= paths.length * ids.length);
    expect(deliveredBy(a)).toBeGreaterThan(0);
    expect(deliveredBy(b)).toBeGreaterThan(0);
    expect(deliveredBy(a) + deliveredBy(b)).toBe(paths.length * ids.length);
    for (const [i] of hooks.entries()) {
      const res = await documentedFetch(`http://127.0.0.1:${a.port}/webhooks/${hooks[i]!.id}`, { method: 'DELETE' });
      expect(res.status).toBe(204);
    }
  }, 90_000);

  test('one killed with SIGKILL mid-delivery and started again: nothing is lost; what arrives twice has the same webhook-id', async () => {
    const hook = await subscribe(a, '/killed');
    const ids = await emitCategories(db, 60);
    await positionsOf(db, ids);
    // The receiver holds the 30th event open until the process that sent it is dead.
    const held = ids[29]!;
    let release: (status: number) => void = () => {};
    const answer = new Promise<number>((resolve) => {
      release = resolve;
    });
    let holding = true;
    receiver.behave('/killed', (r: Received) => (holding && eventIdOf(r) === held ? answer : 200));
    await waitFor('the held request', () => ofPath('/killed').some((r) => eventIdOf(r) === held), 30_000);

    // The process holding the subscription's lease is the one sending it.
    const [lease] = await db.sql<{ owner: string }[]>`SELECT lease_owner AS owner FROM webhooks WHERE id = ${hook.id}`;
    const pid = Number(lease!.owner.split(':').at(-1));
    const victim = servers.find((s) => s.proc.pid === pid && alive(s))!;
    expect(victim).toBeDefined();
    victim.proc.kill('SIGKILL');
    await victim.proc.exited;
    holding = false;
    release(200); // to a dead connection: the answer never arrives

    const restarted = startServer(`${victim.name} again`, victim.port);
    if (victim === a) a = restarted;
    else b = restarted;
    await ready(restarted);

    await waitFor('every event after the restart', () => accepted('/killed').length >= ids.length, 60_000);
    const all = ofPath('/killed');
    // Each event accepted exactly once, in order.
    expect(accepted('/killed').map(eventIdOf)).toEqual(ids);
    // First arrivals in order; only the event in flight at the kill came again.
    expect([...new Set(all.map(eventIdOf))]).toEqual(ids);
    const again = all.filter((r, i) => all.findIndex((x) => x.id === r.id) !== i);
    expect(again.map(eventIdOf)).toEqual([held]);
    // The same message: same webhook-id, same body; signed anew.
    const copies = all.filter((r) => eventIdOf(r) === held);
    expect(copies).toHaveLength(2);
    expect(copies[1]!.id).toBe(copies[0]!.id);
    expect(copies[1]!.body).toBe(copies[0]!.body);
    for (const request of all) verify(request, hook.secret);
    // The history shows no success for the attempt cut short; the retry succeeded.
    const [state] = await db.sql<{ position: number; failures: number }[]>`
      SELECT position, failures FROM webhooks WHERE id = ${hook.id}`;
    const positions = await positionsOf(db, ids);
    expect(state).toEqual({ position: positions.get(ids.at(-1)!)!, failures: 0 });
  }, 90_000);
});

describe('one server process', () => {
  test('the only delivering process killed with SIGKILL mid-delivery: a new one delivers the event again, same webhook-id, nothing lost', async () => {
    // No other process delivers: the servers so far are stopped, their subscriptions gone.
    for (const s of servers) if (alive(s)) s.proc.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.proc.exited));
    await db.sql`DELETE FROM webhooks`;
    const only = startServer('the only one', await freePort());
    await ready(only);
    const hook = await subscribe(only, '/alone');
    const ids = await emitCategories(db, 40);
    const positions = await positionsOf(db, ids);
    // The receiver holds the 15th event open until the process is dead.
    const held = ids[14]!;
    let release: (status: number) => void = () => {};
    const answer = new Promise<number>((resolve) => {
      release = resolve;
    });
    let holding = true;
    receiver.behave('/alone', (r: Received) => (holding && eventIdOf(r) === held ? answer : 200));
    await waitFor('the held request', () => ofPath('/alone').some((r) => eventIdOf(r) === held), 30_000);
    const [lease] = await db.sql<{ owner: string }[]>`SELECT lease_owner AS owner FROM webhooks WHERE id = ${hook.id}`;
    expect(Number(lease!.owner.split(':').at(-1))).toBe(only.proc.pid);

    only.proc.kill('SIGKILL');
    await only.proc.exited;
    expect(servers.filter(alive)).toEqual([]);
    holding = false;
    release(200); // to a dead connection: the answer never arrives
    // The dead process moved nothing past the event it was sending; its lease stands until it expires.
    const [left] = await db.sql<{ position: number; owner: string | null }[]>`
      SELECT position, lease_owner AS owner FROM webhooks WHERE id = ${hook.id}`;
    expect(left).toEqual({ position: positions.get(ids[13]!)!, owner: lease!.owner });
    expect(ofPath('/alone').filter((r) => eventIdOf(r) === held)).toEqual([expect.objectContaining({ answered: 0 })]);

    const successor = startServer('its successor', await freePort());
    await ready(successor);
    await waitFor('every event from the successor', () => accepted('/alone').length >= ids.length, 60_000);
    const all = ofPath('/alone');
    expect(accepted('/alone').map(eventIdOf)).toEqual(ids);
    expect([...new Set(all.map(eventIdOf))]).toEqual(ids);
    const again = all.filter((r, i) => all.findIndex((x) => x.id === r.id) !== i);
    expect(again.map(eventIdOf)).toEqual([held]);
    const copies = all.filter((r) => eventIdOf(r) === held);
    expect(copies).toHaveLength(2);
    expect(copies[1]!.id).toBe(copies[0]!.id);
    expect(copies[1]!.body).toBe(copies[0]!.body);
    for (const request of all) verify(request, hook.secret);
    // The successor delivered from the held event on: it, then every later one, once.
    await waitFor('its log lines', () => deliveredBy(successor) >= ids.length - 14);
    expect(logged(successor, 'webhook delivered').map((l) => l.event_id)).toEqual(ids.slice(14));
    const [state] = await db.sql<{ position: number; failures: number }[]>`
      SELECT position, failures FROM webhooks WHERE id = ${hook.id}`;
    expect(state).toEqual({ position: positions.get(ids.at(-1)!)!, failures: 0 });
  }, 90_000);
});
