/**
 * Reads on standbys, with read-your-writes (README "Reads on standbys").
 *
 * With DATABASE_READ_URL, the GET routes that declare `x-read-from: 'standby'`
 * (src/http/route-policy.ts) run on a second pool, on the standby(s), when
 * that is safe; every other request, and every read when it is not, runs on
 * the primary. Without DATABASE_READ_URL nothing of this module runs.
 *
 * - Every 2xx answer to a write carries `Consistency-Token`: the primary's WAL
 *   position (`pg_current_wal_lsn()`), asked after the write committed (one
 *   more round trip per write). A committed transaction's commit record ends at
 *   or before it: the service commits synchronously, so the commit is written
 *   before the write is answered.
 * - Each process polls, every DB_READ_POLL_MS, the primary's WAL position and
 *   each host of DATABASE_READ_URL (one connection to each, so each host is
 *   known by itself): a standby's replay position (`pg_last_wal_replay_lsn()`),
 *   or "a primary" (always current). The standbys' position is the least
 *   advanced host's, and known only while every host answers.
 * - The lag is a time: the standbys are "fresh as of" the newest poll whose
 *   primary position they have replayed, so they hold every write answered
 *   before that poll was sent. It grows while they stop replaying, and also
 *   while the polls themselves stop answering; it does not grow while the
 *   primary is merely idle (unlike `now() - pg_last_xact_replay_timestamp()`).
 * - A read goes to the standbys only when they are fresh as of at most
 *   DB_READ_MAX_LAG_MS ago and, when it sends a token, have replayed at least
 *   that far. A position known from an earlier poll is only ever behind the
 *   true one (replay only moves forward), so a stale view sends more reads to
 *   the primary, never a read to data older than its token.
 * - A read whose standby fails (unreachable, shutting down, a recovery
 *   conflict) runs again on the primary, once, and the standbys are not used
 *   until a poll finds them all answering again.
 */
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { Counter, Gauge, type Registry } from 'prom-client';
import { formatDatabaseUrl, hasSeveralHosts, parseDatabaseUrl, singleHostUrls, withDefaultParam } from './cli/database-url.ts';
import type { Config } from './config.ts';
import { createPool, type Pool } from './db.ts';
import { ApiError, fromDatabaseError } from './errors.ts';
import type { AppEnv } from './http/context.ts';
import type { Logger } from './logger.ts';

/** The header a write's answer carries and a read may send back. */
export const TOKEN_HEADER = 'Consistency-Token';
/** A WAL position as PostgreSQL writes it (`pg_lsn`): two hexadecimal halves of 64 bits. */
export const TOKEN_PATTERN = '^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$';
const TOKEN = new RegExp(TOKEN_PATTERN);

/** A position no standby reaches: a read host that is itself a primary has every write. */
const CURRENT = 1n << 64n;

/** A `pg_lsn` text as a number, or undefined when it is not one. */
export function parseLsn(text: string): bigint | undefined {
  if (!TOKEN.test(text)) return undefined;
  const slash = text.indexOf('/');
  return (BigInt(`0x${text.slice(0, slash)}`) << 32n) | BigInt(`0x${text.slice(slash + 1)}`);
}

/** Why a read went where it went (the `reason` of db_reads_total). */
export type ReadReason = 'in_sync' | 'token_ahead' | 'lagging' | 'unavailable' | 'fallback';

type Settings = Pick<
  Config,
  | 'databaseUrl'
  | 'databaseReadUrl'
  | 'readPoolMax'
  | 'readMaxLagMs'
  | 'readPollMs'
  | 'statementTimeoutMs'
  | 'connectTimeoutMs'
  | 'dbPrepare'
>;

/** The read URL as the read pool uses it: several hosts prefer a standby unless the URL says otherwise. */
export function readPoolUrl(url: string): string {
  return hasSeveralHosts(url) ? withDefaultParam(url, 'target_session_attrs', 'prefer-standby') : url;
}

/** One URL per host of the read URL, each asked for itself (no target_session_attrs). */
function hostUrls(url: string): string[] {
  return singleHostUrls(url).map((single) => {
    const u = parseDatabaseUrl(single);
    u.params.delete('target_session_attrs');
    return formatDatabaseUrl(u);
  });
}

export type ReadRouting = ReturnType<typeof createReadRouting>;

/**
 * The read pool, the poll that tells how far the standbys are, and the two
 * middlewares: `route` (on reads a standby may serve) and `token` (on writes).
 */
export function createReadRouting(
  primary: Pool,
  config: Settings & { databaseReadUrl: string },
  logger: Logger,
  registry: Registry,
) {
  // DB_PREPARE applies to these pools too: the standbys may be behind PgBouncer as well.
  const timeouts = {
    statementTimeoutMs: config.statementTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    dbPrepare: config.dbPrepare,
  };
  const read = createPool(
    { ...timeouts, databaseUrl: readPoolUrl(config.databaseReadUrl), poolMax: config.readPoolMax },
    'inventory-api-reads',
  );
  // The poll's own connections: one to the primary, one to each read host. A poll never waits behind requests.
  const probeTimeouts = {
    statementTimeoutMs: Math.max(100, Math.min(config.statementTimeoutMs, config.readMaxLagMs)),
    connectTimeoutMs: config.connectTimeoutMs,
    dbPrepare: config.dbPrepare,
  };
  const primaryProbe = createPool({ ...probeTimeouts, databaseUrl: config.databaseUrl, poolMax: 1 }, 'inventory-read-poll');
  const hosts = hostUrls(config.databaseReadUrl).map((url) =>
    createPool({ ...probeTimeouts, databaseUrl: url, poolMax: 1 }, 'inventory-read-poll'),
  );

  /** The primary's WAL position at each poll (performance.now() when it was asked), oldest first. */
  const samples: { at: number; lsn: bigint }[] = [];
  /** What the last poll found: every read host's least position, and since when they hold every answered write. */
  let known: { replay: bigint; freshAt: number | undefined } | undefined;
  /** The poll under way: the timer starts none while one runs. */
  let inFlight: Promise<void> | undefined;
  let closed = false;

  const reads = new Counter({
    name: 'db_reads_total',
    help: 'Reads a standby may serve (DATABASE_READ_URL), by the server that served them and why',
    labelNames: ['server', 'reason'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'db_read_standby_lag_seconds',
    help: 'How long ago the standbys were last known to hold every answered write (NaN: unknown)',
    registers: [registry],
    collect() {
      this.set(known?.freshAt === undefined ? Number.NaN : (performance.now() - known.freshAt) / 1000);
    },
  });

  const poll = (): Promise<void> =>
    (inFlight ??= pollOnce().finally(() => {
      inFlight = undefined;
    }));

  async function pollOnce() {
    if (closed) return;
    const at = performance.now();
    const [current, ...replays] = await Promise.all([
      primaryProbe<{ lsn: string }[]>`SELECT pg_current_wal_lsn()::text AS lsn`.then(
        ([row]) => parseLsn(row!.lsn),
        () => undefined,
      ),
      ...hosts.map((host) =>
        host<{ standby: boolean; replay: string | null }[]>`
          SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS replay`.then(
          ([row]) => (row!.standby ? (parseLsn(row!.replay ?? '0/0') ?? 0n) : CURRENT),
          () => undefined,
        ),
      ),
    ]);
    if (current !== undefined) samples.push({ at, lsn: current });
    // Samples older than the bound can no longer make the standbys fresh enough; keep the newest regardless.
    const oldest = performance.now() - config.readMaxLagMs - config.readPollMs;
    while (samples.length > 1 && samples[0]!.at < oldest) samples.shift();
    const before = known;
    if (replays.some((r) => r === undefined)) {
      known = undefined;
    } else {
      let replay = CURRENT;
      for (const r of replays as bigint[]) if (r < replay) replay = r;
      let freshAt: number | undefined;
      for (let i = samples.length - 1; i >= 0; i--) {
        if (samples[i]!.lsn <= replay) {
          freshAt = samples[i]!.at;
          break;
        }
      }
      known = { replay, freshAt: freshAt ?? before?.freshAt };
    }
    if (before && !known) logger.warn('standby reads paused: a host of DATABASE_READ_URL does not answer');
    if (!before && known) logger.info('standby reads available');
  }
  const timer = setInterval(() => void poll(), config.readPollMs);
  timer.unref();
  void poll();

  /** Where a read goes now: the standbys ('in_sync'), or the primary and why. */
  function decide(token: bigint | undefined): ReadReason {
    if (!known) return 'unavailable';
    if (known.freshAt === undefined || performance.now() - known.freshAt > config.readMaxLagMs) return 'lagging';
    if (token !== undefined && token > known.replay) return 'token_ahead';
    return 'in_sync';
  }

  /** For the reads a standby may serve: checks the token, then runs the handler on the standbys or the primary. */
  const route: MiddlewareHandler<AppEnv> = async (c, next) => {
    const text = c.req.header(TOKEN_HEADER);
    let token: bigint | undefined;
    if (text !== undefined) {
      token = parseLsn(text);
      if (token === undefined) {
        throw new ApiError('validation_failed', `the ${TOKEN_HEADER} header is not valid`, [
          { path: TOKEN_HEADER.toLowerCase(), message: 'a WAL position as a write answered it, such as 0/3000148' },
        ]);
      }
    }
    const reason = decide(token);
    if (reason !== 'in_sync') {
      reads.inc({ server: 'primary', reason });
      return next();
    }
    const here = c.req.routeIndex;
    c.set('sql', read);
    await next();
    const error = c.error;
    // A statement timeout is the query's own slowness, not the standby's: it is not run again.
    if (!error || fromDatabaseError(error)?.code !== 'database_unavailable' || (error as { code?: unknown }).code === '57014') {
      reads.inc({ server: 'standby', reason });
      return;
    }
    // The standby failed this read: no more standby reads until a poll finds every host again,
    // and this one runs again, on the primary, from the layer after this one.
    known = undefined;
    reads.inc({ server: 'primary', reason: 'fallback' });
    logger.warn('standby read failed; answered from the primary', {
      request_id: c.get('requestId'),
      cause: (error as { code?: string }).code,
    });
    c.set('sql', primary);
    c.error = undefined;
    c.res = undefined as never;
    c.finalized = false;
    const chain = matchedRoutes(c);
    const dispatch = async (i: number): Promise<void> => {
      const layer = chain[i];
      if (!layer) return;
      c.req.routeIndex = i;
      const res = await layer.handler(c, () => dispatch(i + 1));
      if (res instanceof Response) c.res = res;
    };
    await dispatch(here + 1);
  };

  /** For writes: a 2xx answer gets the primary's WAL position, asked once the write committed. */
  const token: MiddlewareHandler<AppEnv> = async (c, next) => {
    await next();
    const { status } = c.res;
    if (status < 200 || status > 299) return;
    try {
      const [row] = await primary<{ lsn: string }[]>`SELECT pg_current_wal_lsn()::text AS lsn`;
      c.header(TOKEN_HEADER, row!.lsn);
    } catch (error) {
      // The write is done: it is answered as it is, without a token (a read then has the lag bound only).
      logger.warn('no consistency token for a write', {
        request_id: c.get('requestId'),
        cause: (error as { code?: string }).code,
      });
    }
  };

  return {
    route,
    token,
    /** Runs a poll that starts now, after the one under way (tests). */
    poll: async () => {
      await inFlight;
      await poll();
    },
    /** Where a read with this token (or none) would go now. */
    decide,
    close: async () => {
      closed = true;
      clearInterval(timer);
      await Promise.all([read, primaryProbe, ...hosts].map((pool) => pool.end({ timeout: 1 })));
    },
  };
}
