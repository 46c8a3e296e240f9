/**
 * Webhook delivery: at least once, per subscription in the feed's order, from
 * any number of processes at once.
 *
 * Every WEBHOOK_POLL_MS a process claims as many due subscriptions as it has
 * free slots (WEBHOOK_CONCURRENCY), with FOR UPDATE SKIP LOCKED and a lease
 * set in the same statement (src/webhooks/queries.ts: claimDue), so no two
 * workers ever hold one subscription. It then delivers outside any
 * transaction: the subscription's next events, one request each, in position
 * order, each bounded by WEBHOOK_TIMEOUT_MS, its receiver's address checked
 * before each one. A 2xx moves the subscription's position past the event and
 * renews the lease, but only while the lease's token is still the one it was
 * given; anything else is a failure: the subscription waits an exponentially
 * growing, jittered delay (WEBHOOK_RETRY_BASE_MS doubling up to
 * WEBHOOK_RETRY_MAX_MS) and is disabled, with the reason, once it has failed
 * for WEBHOOK_GIVE_UP_AFTER_S. A worker that dies mid-delivery never moved the
 * position: its lease expires and the event is delivered again, with the same
 * webhook-id. One subscription holds at most one slot of one process at a
 * time, so a slow or dead receiver delays only its own deliveries.
 */
import { hostname } from 'node:os';
import type { Config } from '../config.ts';
import type { Sql } from '../db.ts';
import type { Logger } from '../logger.ts';
import { resolveReceiver } from './address.ts';
import { claimDue, type Lease, nextEvents, recordFailure, recordSuccess, releaseLease } from './queries.ts';
import { type FeedEvent, messageBody, signedHeaders } from './signing.ts';

export type DelivererConfig = Pick<
  Config,
  | 'webhookAllowPrivate'
  | 'webhookConcurrency'
  | 'webhookPollMs'
  | 'webhookTimeoutMs'
  | 'webhookRetryBaseMs'
  | 'webhookRetryMaxMs'
  | 'webhookGiveUpAfterS'
>;

export type Deliverer = {
  /** Claims nothing more, lets the requests in flight finish (each within its timeout), gives the leases back. */
  stop(): Promise<void>;
};

/** Events read at once, and delivered under one claim before the subscription goes back to the queue. */
const EVENTS_PER_READ = 50;
const EVENTS_PER_LEASE = 500;
const USER_AGENT = 'inventory-webhooks/1';
/** At most one warning per this long about the same trouble (the database away, say). */
const WARN_EVERY_MS = 30_000;

/**
 * How long a claim holds a subscription without news from its worker: an
 * address lookup and a request (each within the timeout) and the writes after
 * them. A lease is renewed with every delivered event.
 */
export const leaseMsFor = (timeoutMs: number) => 2 * timeoutMs + 5000;

/**
 * The wait before the next attempt after `failures` failures in a row: the
 * base doubled for each failure after the first, at most the maximum, of which
 * a random half is taken off (so that receivers coming back are not met by
 * every retry at once).
 */
export function retryDelayMs(failures: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 40));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** What went wrong with a request, in a few words: never a body, a header or a secret. */
export function describeFailure(error: unknown): string {
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  if (name === 'TimeoutError' || name === 'AbortError') return 'timeout';
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'EPROTO':
      return 'TLS handshake failed';
  }
  if (typeof code === 'string' && /CERT|TLS|SSL/i.test(code)) return `TLS error (${code.slice(0, 60)})`;
  return typeof code === 'string' ? `network error (${code.slice(0, 60)})` : 'network error';
}

type Outcome = { ok: boolean; statusCode: number | null; error: string | null; latencyMs: number };

/**
 * The request to send: to the checked address when there is one (so that the
 * name is not resolved again, perhaps elsewhere), with the URL's own host in
 * `Host` and, over https, as the TLS server name the certificate is verified against.
 */
export function pinnedTarget(
  url: URL,
  address: string | undefined,
): { href: string; headers: Record<string, string>; tls?: { serverName: string } } {
  const bare = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (address === undefined || address === bare) return { href: url.href, headers: {}, tls: undefined };
  const pinned = new URL(url.href);
  pinned.hostname = address.includes(':') ? `[${address}]` : address;
  return {
    href: pinned.href,
    headers: { host: url.host },
    tls: url.protocol === 'https:' ? { serverName: bare } : undefined,
  };
}

/** One attempt: the address check, then the signed POST. */
async function send(lease: Pick<Lease, 'url' | 'secrets'>, event: FeedEvent, config: DelivererConfig): Promise<Outcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let url: URL;
  try {
    url = new URL(lease.url);
  } catch {
    return { ok: false, statusCode: null, error: 'invalid URL', latencyMs: elapsed() };
  }
  const destination = await resolveReceiver(url, {
    allowPrivate: config.webhookAllowPrivate,
    timeoutMs: config.webhookTimeoutMs,
  });
  if (!destination.ok) {
    const error = destination.refusal === 'not_allowed' ? 'address not allowed' : 'host not found';
    return { ok: false, statusCode: null, error, latencyMs: elapsed() };
  }
  const body = messageBody(event);
  const to = pinnedTarget(url, destination.address);
  try {
    const response = await fetch(to.href, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        ...signedHeaders(event, body, lease.secrets, new Date()),
        ...to.headers,
      },
      body,
      redirect: 'manual',
      // Straight to the checked address: a proxy would connect elsewhere.
      proxy: false,
      tls: to.tls,
      signal: AbortSignal.timeout(config.webhookTimeoutMs),
    });
    try {
      await response.body?.cancel();
    } catch {
      // the body is not read
    }
    const ok = response.status >= 200 && response.status < 300;
    return { ok, statusCode: response.status, error: ok ? null : `status ${response.status}`, latencyMs: elapsed() };
  } catch (error) {
    return { ok: false, statusCode: null, error: describeFailure(error), latencyMs: elapsed() };
  }
}

const sameTypes = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((t, i) => t === b[i]);

/** Starts delivering; `stop` before the pool ends. */
export function startDeliverer({ sql, config, logger }: { sql: Sql; config: DelivererConfig; logger: Logger }): Deliverer {
  const owner = `${hostname()}:${process.pid}`.slice(0, 200);
  const leaseMs = leaseMsFor(config.webhookTimeoutMs);
  const running = new Set<Promise<void>>();
  let stopping = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let tick: Promise<void> = Promise.resolve();
  const warnedAt = new Map<string, number>();

  const message = (error: unknown) => {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    return { code: typeof code === 'string' ? code : undefined, message: String(message ?? error).slice(0, 300) };
  };
  const warnThrottled = (what: string, fields: Record<string, unknown>, error: unknown) => {
    const now = Date.now();
    if (now - (warnedAt.get(what) ?? -Infinity) < WARN_EVERY_MS) return;
    warnedAt.set(what, now);
    logger.warn(what, { ...fields, error: message(error) });
  };

  /** Delivers a claimed subscription's events until none is left, one fails, or the lease is lost. */
  async function deliver(claimed: Lease): Promise<void> {
    let lease = claimed;
    let attempt = lease.failures + 1;
    let delivered = 0;
    while (!stopping && delivered < EVENTS_PER_LEASE) {
      const events = await nextEvents(sql, { after: lease.position, types: lease.event_types, limit: EVENTS_PER_READ });
      if (events.length === 0) break;
      for (const event of events) {
        if (stopping) break;
        const outcome = await send(lease, event, config);
        const record = { event, attempt, statusCode: outcome.statusCode, error: outcome.error, latencyMs: outcome.latencyMs };
        if (!outcome.ok) {
          const retryMs = retryDelayMs(attempt, config.webhookRetryBaseMs, config.webhookRetryMaxMs);
          const state = await recordFailure(sql, lease, record, { retryMs, giveUpAfterS: config.webhookGiveUpAfterS });
          const fields = { webhook_id: lease.id, event_id: event.id, attempt, status: outcome.statusCode, error: outcome.error };
          if (state && !state.enabled) logger.warn('webhook disabled after failing too long', fields);
          else logger.info('webhook delivery failed', { ...fields, retry_in_ms: retryMs });
          return;
        }
        const next = await recordSuccess(sql, lease, record, leaseMs);
        logger.debug('webhook delivered', {
          webhook_id: lease.id,
          event_id: event.id,
          position: event.position,
          status: outcome.statusCode,
          latency_ms: outcome.latencyMs,
        });
        if (!next) return; // the lease was lost: whoever holds it now delivers from the position it finds
        delivered++;
        attempt = 1;
        const typesChanged = !sameTypes(next.event_types, lease.event_types);
        lease = next;
        if (!next.enabled) break;
        if (typesChanged) break; // read the events of the new types
      }
      if (!lease.enabled) break;
    }
    await releaseLease(sql, lease);
  }

  function start(lease: Lease) {
    const task: Promise<void> = deliver(lease)
      .catch((error) => warnThrottled('webhook delivery interrupted', { webhook_id: lease.id }, error))
      .finally(() => running.delete(task));
    running.add(task);
  }

  async function claim(): Promise<void> {
    const free = config.webhookConcurrency - running.size;
    if (stopping || free <= 0) return;
    try {
      for (const lease of await claimDue(sql, { limit: free, leaseMs, owner })) start(lease);
    } catch (error) {
      warnThrottled('webhook deliveries could not be claimed', {}, error);
    }
  }

  function schedule() {
    if (stopping) return;
    timer = setTimeout(() => {
      tick = claim().finally(schedule);
    }, config.webhookPollMs);
  }
  tick = claim().finally(schedule);

  return {
    async stop() {
      stopping = true;
      clearTimeout(timer);
      await tick;
      await Promise.all([...running]);
    },
  };
}
