import type { Context, MiddlewareHandler } from 'hono';
import { getConnInfo } from 'hono/bun';
import { createHash } from 'node:crypto';
import type { Pool } from '../db.ts';
import { ApiError } from '../errors.ts';
import type { KeyMatcher } from '../http/auth.ts';
import type { AppEnv } from '../http/context.ts';
import { countRequests, purgeOldWindows } from './queries.ts';

/**
 * Who a request counts against: the configured API key it proves it holds (by
 * its fingerprint, which a change of the key list leaves as it is);
 * otherwise its address — behind a trusted proxy the last X-Forwarded-For
 * entry (the one the proxy appended), never what the client wrote itself.
 * A made-up token identifies nobody, so it cannot buy a fresh count.
 */
export function clientOf(c: Context<AppEnv>, trustProxy: boolean, matchKey: KeyMatcher): string {
  const key = matchKey(c.req.header('authorization'));
  if (key !== undefined) return `key:${key}`;
  let address: string | undefined;
  if (trustProxy) address = c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim();
  if (!address) {
    try {
      address = getConnInfo(c).remote.address;
    } catch {
      // requests made in-process (app.request) have no socket
    }
  }
  address ||= 'unknown';
  // An address is short; anything longer is hashed so that it fits the index.
  return address.length <= 64 ? `ip:${address}` : `ip#${createHash('sha256').update(address).digest('hex')}`;
}

/** What the count says about one request. */
export type Verdict = { allowed: boolean; remaining: number; resetS: number };

type Waiter = { resolve: (v: Verdict) => void; reject: (error: unknown) => void };

/**
 * A process's share of the fixed-window counts kept in PostgreSQL (so that
 * every API process shares them). Requests do not each send an UPDATE: the
 * process sends at most one statement at a time, counting every request that
 * arrived since the previous one, each client's by one increment; a request
 * learns its position in its window from the total the statement returns.
 * So a client's row is locked by at most one statement per process, however
 * many requests it sends. Once a count reaches the limit, the client's further
 * requests in that window are answered from memory (the window's end is
 * estimated from the time the statement was sent, so never late), without a
 * statement. Exact: every request allowed was counted, in order, by PostgreSQL.
 */
export function createCounter(sql: Pool, max: number, windowS: number) {
  /** Clients over the limit, and the local time their window ends at (estimated early). */
  const overUntil = new Map<string, number>();
  let next = new Map<string, Waiter[]>();
  let sending = false;
  let lastPurge = 0;

  const fromMemory = (client: string, now: number): Verdict | undefined => {
    const until = overUntil.get(client);
    if (until === undefined) return undefined;
    if (now < until) return { allowed: false, remaining: 0, resetS: Math.max(1, Math.ceil((until - now) / 1000)) };
    overUntil.delete(client);
    return undefined;
  };

  const housekeeping = (now: number) => {
    if (now - lastPurge < windowS * 1000) return;
    lastPurge = now;
    for (const [client, until] of overUntil) if (until <= now) overUntil.delete(client);
    // Not awaited: a failed purge is retried a window later, and no request waits for it.
    purgeOldWindows(sql, windowS).catch(() => {});
  };

  async function send(): Promise<void> {
    sending = true;
    try {
      while (next.size) {
        const batch = next;
        next = new Map();
        const sent = Date.now();
        for (const [client, waiters] of batch) {
          const known = fromMemory(client, sent);
          if (!known) continue;
          for (const w of waiters) w.resolve(known);
          batch.delete(client);
        }
        if (!batch.size) continue;
        const clients = [...batch.keys()];
        try {
          const rows = await countRequests(
            sql,
            clients,
            clients.map((client) => batch.get(client)!.length),
            windowS,
          );
          for (const row of rows) {
            const waiters = batch.get(row.client)!;
            batch.delete(row.client);
            if (row.requests >= max) overUntil.set(row.client, sent + row.msLeft);
            const resetS = Math.max(1, Math.ceil(row.msLeft / 1000));
            const first = row.requests - waiters.length + 1;
            waiters.forEach((w, i) => w.resolve({ allowed: first + i <= max, remaining: Math.max(0, max - first - i), resetS }));
          }
          if (batch.size) throw new Error('the rate limit count returned no row for a client');
        } catch (error) {
          for (const waiters of batch.values()) for (const w of waiters) w.reject(error);
        }
        housekeeping(sent);
      }
    } finally {
      sending = false;
    }
  }

  /** Counts one request of `client`: at once when it is known to be over, otherwise with the next statement. */
  return (client: string): Verdict | Promise<Verdict> => {
    const known = fromMemory(client, Date.now());
    if (known) return known;
    return new Promise<Verdict>((resolve, reject) => {
      const waiters = next.get(client);
      if (waiters) waiters.push({ resolve, reject });
      else next.set(client, [{ resolve, reject }]);
      if (!sending) void send();
    });
  };
}

/**
 * Fixed-window rate limit per client (see `createCounter`). Runs before the
 * pool gate: a request is counted, and refused when over, without taking a
 * connection slot. Answers 429 with Retry-After when a client is over.
 */
export function rateLimit(
  sql: Pool,
  max: number,
  windowS: number,
  trustProxy: boolean,
  matchKey: KeyMatcher,
): MiddlewareHandler<AppEnv> {
  const count = createCounter(sql, max, windowS);
  return async (c, next) => {
    const counted = count(clientOf(c, trustProxy, matchKey));
    const { allowed, remaining, resetS } = counted instanceof Promise ? await counted : counted;
    const headers = {
      'ratelimit-limit': String(max),
      'ratelimit-remaining': String(remaining),
      'ratelimit-reset': String(resetS),
    };
    if (!allowed) {
      throw new ApiError('rate_limited', `more than ${max} requests in ${windowS} s; retry in ${resetS} s`, undefined, {
        ...headers,
        'retry-after': String(resetS),
      });
    }
    await next();
    for (const [k, v] of Object.entries(headers)) c.header(k, v);
  };
}
