/**
 * What the webhook tests share: the app on a test database with the webhook
 * settings a test gives, a receiver (a local HTTP server that records every
 * request and answers as the test says), a publishing loop of the test's own
 * (so that events are published whatever the code under test runs), processes
 * (servers, `bun run worker`) started with their output kept, and waits on
 * conditions: until one holds, or for a while that one never does.
 */
import { Webhook } from 'standardwebhooks';
import postgres from 'postgres';
import { createApp, type App } from '../../src/app.ts';
import { defaultConfig, type Config } from '../../src/config.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import { checkedApp } from '../support/contract.ts';
import type { TestDatabase } from '../support/db.ts';
import { waitFor } from '../support/processes.ts';
export { alive, answering, logged, type Proc, ROOT, spawnLogged, spawnServer, waitFor } from '../support/processes.ts';

/** Settings for fast tests: a receiver on 127.0.0.1, short polls, timeouts and retries. */
export const FAST: Partial<Config> = {
  webhookAllowPrivate: true,
  webhookPollMs: 50,
  webhookTimeoutMs: 500,
  webhookRetryBaseMs: 100,
  webhookRetryMaxMs: 400,
  webhookConcurrency: 4,
};

/** The test's config: the defaults, FAST, then `overrides`. */
export const configWith = (overrides: Partial<Config> = {}): Config => defaultConfig({ ...FAST, ...overrides });

/** A logger that keeps every line (debug and up) in `lines`, or a silent one. */
export function capturingLogger(lines?: string[]): Logger {
  if (lines) return createLogger('debug', (line) => lines.push(line), 'json');
  return createLogger((process.env.TEST_LOG_LEVEL ?? 'silent') as 'silent');
}

export type Client = {
  app: App;
  request: (path: string, init?: RequestInit) => Promise<Response>;
  post: (path: string, body: unknown, headers?: Record<string, string>) => Promise<Response>;
  patch: (path: string, body: unknown) => Promise<Response>;
};

/** The service's app on `db` with `config` (FAST and WEBHOOK_ALLOW_PRIVATE unless overridden); responses checked against the document. */
export function webhookClient(db: TestDatabase, overrides: Partial<Config> = {}, logger = capturingLogger()): Client {
  const app = checkedApp(createApp({ sql: db.sql, config: configWith(overrides), logger }));
  const request = async (path: string, init?: RequestInit) => app.request(path, init);
  const send =
    (method: string) =>
    (path: string, body: unknown, headers: Record<string, string> = {}) =>
      request(path, { method, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { app, request, post: send('POST'), patch: send('PATCH') };
}

// ---------------------------------------------------------------- the receiver

export type Received = {
  path: string;
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** What the receiver answered (0: nothing yet, or nothing the sender got: it gave up first). */
  answered: number;
};

/** How the receiver treats a request: a status to answer, `hang` (answer 200 after `hangMs`), or a promise of a status. */
export type Behaviour = number | 'hang' | Promise<number>;

export type Receiver = {
  url: (path?: string) => string;
  port: number;
  received: Received[];
  /** The behaviour for requests from now on (per path: `behave(path, ...)`). */
  behave: (path: string, behaviour: Behaviour | ((r: Received) => Behaviour)) => void;
  stop: () => Promise<void>;
};

/**
 * A webhook receiver on 127.0.0.1 (on `port` when given). Every request is
 * recorded as it arrives; it answers 200 unless told otherwise for its path.
 */
export function startReceiver(options: { port?: number; hangMs?: number } = {}): Receiver {
  const received: Received[] = [];
  const behaviours = new Map<string, Behaviour | ((r: Received) => Behaviour)>();
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: options.port ?? 0,
    idleTimeout: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      const entry: Received = {
        path,
        id: req.headers.get('webhook-id') ?? '',
        timestamp: req.headers.get('webhook-timestamp') ?? '',
        signature: req.headers.get('webhook-signature') ?? '',
        body: await req.text(),
        answered: 0,
      };
      received.push(entry);
      const rule = behaviours.get(path) ?? 200;
      let behaviour = typeof rule === 'function' ? rule(entry) : rule;
      if (behaviour === 'hang') {
        await Bun.sleep(options.hangMs ?? 2000);
        behaviour = 200;
      }
      const status = await behaviour;
      // A sender that gave up (its timeout) never gets the answer.
      if (!req.signal.aborted) entry.answered = status;
      return new Response(null, { status });
    },
  });
  return {
    port: server.port!,
    url: (path = '/hook') => `http://127.0.0.1:${server.port}${path}`,
    received,
    behave: (path, behaviour) => behaviours.set(path, behaviour),
    stop: () => server.stop(true),
  };
}

/** Verifies a received request as a receiver does, with the Standard Webhooks package: its payload, or a thrown error. */
export function verify(r: Received, secret: string): any {
  return new Webhook(secret).verify(r.body, {
    'webhook-id': r.id,
    'webhook-timestamp': r.timestamp,
    'webhook-signature': r.signature,
  });
}

// ---------------------------------------------------------------- events

/**
 * Publishes committed events every 50 ms on a connection of its own, as the
 * background jobs will (`SELECT events_publish()`), until stopped; at most
 * `limitMs` in all.
 */
export function startPublishing(url: string, limitMs = 300_000) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const until = Date.now() + limitMs;
  let running = true;
  const loop = (async () => {
    while (running && Date.now() < until) {
      try {
        await sql`SELECT events_publish()`;
      } catch {
        // the database restarting, or the test ending: try again
      }
      await Bun.sleep(50);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      await sql.end({ timeout: 1 });
    },
  };
}

/** Writes `count` category.created events in one transaction (as the owner), returning their event ids in order. */
export async function emitCategories(
  db: TestDatabase,
  count: number,
  prefix = `cat-${Date.now().toString(36)}`,
): Promise<number[]> {
  return db.admin.begin(async (tx) => {
    await tx`SET LOCAL statement_timeout = 0`;
    await tx`INSERT INTO categories (name) SELECT ${prefix} || '-' || g FROM generate_series(1, ${count}::int) g ORDER BY g`;
    const rows = await tx<{ id: number }[]>`
      SELECT id FROM events WHERE type = 'category.created' AND data->>'name' LIKE ${`${prefix}-%`} ORDER BY id`;
    return rows.map((r) => r.id);
  });
}

/** The published position of each of these events, once all are published. */
export async function positionsOf(db: TestDatabase, ids: number[]): Promise<Map<number, number>> {
  const rows = await waitFor('the events to be published', async () => {
    const found = await db.sql<{ id: number; position: number | null }[]>`
      SELECT id, position FROM events WHERE id = ANY(${ids}::bigint[])`;
    return found.length === ids.length && found.every((r) => r.position !== null) ? found : undefined;
  });
  return new Map(rows.map((r) => [r.id, r.position!]));
}

/** The event id a webhook-id (`evt_<id>`) names. */
export const eventIdOf = (r: Pick<Received, 'id'>) => Number(/^evt_(\d+)/.exec(r.id)?.[1]);

// ---------------------------------------------------------------- processes

/** Webhook settings for server and worker processes: a receiver on 127.0.0.1, short polls, timeouts and retries; JSON logs, debug and up. */
export const PROCESS_ENV: Record<string, string> = {
  LOG_LEVEL: 'debug',
  LOG_FORMAT: 'json',
  DB_POOL_MAX: '5',
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_CONCURRENCY: '2',
  WEBHOOK_POLL_MS: '50',
  WEBHOOK_TIMEOUT_MS: '1000',
  WEBHOOK_RETRY_BASE_MS: '100',
  WEBHOOK_RETRY_MAX_MS: '500',
};

/**
 * Checks every 25 ms for `ms` that `condition` does not hold, failing as soon
 * as it does: for what must not happen, given time to (a bounded wait).
 */
export async function holdsOff(what: string, condition: () => unknown | Promise<unknown>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) throw new Error(`${what} happened`);
    await Bun.sleep(25);
  }
  if (await condition()) throw new Error(`${what} happened`);
}
