import * as v from 'valibot';
import { readFileSync } from 'node:fs';
import { parseDatabaseUrl } from './cli/database-url.ts';

/** A whole number in min..max, `fallback` when unset. */
const integer = (fallback: number, min: number, max: number) => (name: string) =>
  v.pipe(
    v.optional(v.string(), String(fallback)),
    v.regex(/^\d+$/, `${name} must be a whole number`),
    v.transform(Number),
    v.minValue(min, `${name} must be at least ${min}`),
    v.maxValue(max, `${name} must be at most ${max}`),
  );

/** true/1 or false/0, `fallback` (false) when unset. */
const flag = (name: string, fallback = false) =>
  v.pipe(
    v.optional(v.picklist(['true', 'false', '1', '0'], `${name} must be true or false`), fallback ? 'true' : 'false'),
    v.transform((s) => s === 'true' || s === '1'),
  );

/** Comma-separated values, none when unset. */
const list = () =>
  v.pipe(
    v.optional(v.string(), ''),
    v.transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    ),
  );

/** One setting: the environment variable it is read from, and its schema (whose messages name that variable). */
const setting = <S extends v.GenericSchema>(env: string, schema: (env: string) => S) => ({ env, schema: schema(env) });

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;

/** Every setting, written once: its field in Config, its variable, its rule and default. */
const SETTINGS = {
  databaseUrl: setting('DATABASE_URL', (name) =>
    v.pipe(
      v.string(`${name} is required (postgres://user:password@host:port/database)`),
      v.regex(/^postgres(ql)?:\/\//, `${name} must start with postgres:// or postgresql://`),
    ),
  ),
  // Reads on standbys (src/db-read.ts): all off when DATABASE_READ_URL is unset.
  /** Standbys for GET reads: one host, or several (target_session_attrs=prefer-standby unless it says otherwise). */
  databaseReadUrl: setting('DATABASE_READ_URL', (name) =>
    v.optional(
      v.pipe(
        v.string(),
        v.regex(/^postgres(ql)?:\/\//, `${name} must start with postgres:// or postgresql://`),
        v.check((url) => {
          try {
            parseDatabaseUrl(url);
            return true;
          } catch {
            return false;
          }
        }, `${name} must look like postgres://user:password@host:port/database (several hosts: host1:port,host2:port)`),
      ),
    ),
  ),
  readPoolMax: setting('DB_READ_POOL_MAX', integer(10, 1, 1000)),
  /** A read without a token goes to the primary when the standbys may miss writes acknowledged longer ago than this. */
  readMaxLagMs: setting('DB_READ_MAX_LAG_MS', integer(1000, 10, 3_600_000)),
  /** How often each process asks the primary and every read host for their WAL positions. */
  readPollMs: setting('DB_READ_POLL_MS', integer(100, 10, 10_000)),
  host: setting('HOST', (name) => v.optional(v.pipe(v.string(), v.nonEmpty(`${name} must not be empty`)), '127.0.0.1')),
  port: setting('PORT', integer(8000, 0, 65535)),
  poolMax: setting('DB_POOL_MAX', integer(10, 1, 1000)),
  statementTimeoutMs: setting('DB_STATEMENT_TIMEOUT_MS', integer(5000, 100, 600_000)),
  connectTimeoutMs: setting('DB_CONNECT_TIMEOUT_MS', integer(2000, 100, 60_000)),
  poolWaitMs: setting('DB_POOL_WAIT_MS', integer(2000, 1, 60_000)),
  /**
   * Reads admitted per pooled connection (src/http/pool-gate.ts): when every connection is busy,
   * up to this many read statements are pipelined on each. 1: a connection per request. Writes
   * always take a whole connection; with DB_PREPARE=false (behind PgBouncer) reads do too.
   */
  poolPipelineDepth: setting('DB_PIPELINE_DEPTH', integer(4, 1, 100)),
  /**
   * Named prepared statements, and the session settings sent at connection start-up;
   * false behind a pooler in transaction mode (PgBouncer 1.18): unnamed statements, only
   * the start-up parameters PgBouncer passes on, the timeouts from the role (see README).
   */
  dbPrepare: setting('DB_PREPARE', (name) => flag(name, true)),
  logLevel: setting('LOG_LEVEL', (name) =>
    v.optional(v.picklist(LOG_LEVELS, `${name} must be one of ${LOG_LEVELS.join(', ')}`), 'info'),
  ),
  logFormat: setting('LOG_FORMAT', (name) =>
    v.optional(v.picklist(['json', 'pretty', 'auto'], `${name} must be json, pretty or auto`), 'auto'),
  ),
  /** Bearer keys that may write (with those of apiKeysFile); empty means writes are open. */
  apiKeys: setting('API_KEYS', list),
  /** A file of more keys, one a line; read into apiKeys, not part of Config. */
  apiKeysFile: setting('API_KEYS_FILE', (name) => v.optional(v.pipe(v.string(), v.nonEmpty(`${name} must name a file`)))),
  readsRequireKey: setting('API_READS_REQUIRE_KEY', flag),
  corsOrigins: setting('CORS_ORIGINS', list),
  /** Requests per client and window; 0 turns rate limiting off. */
  rateLimitMax: setting('RATE_LIMIT_MAX', integer(0, 0, 1_000_000)),
  rateLimitWindowS: setting('RATE_LIMIT_WINDOW_S', integer(60, 1, 86_400)),
  trustProxy: setting('TRUST_PROXY', flag),
  webConcurrency: setting('WEB_CONCURRENCY', integer(1, 1, 64)),
  // Events
  /** Run the background jobs (event publisher, reservation expiry, event pruning) in this process; false with `bun run worker`. */
  backgroundJobs: setting('BACKGROUND_JOBS', (name) => flag(name, true)),
  eventsPublishIntervalMs: setting('EVENTS_PUBLISH_INTERVAL_MS', integer(100, 10, 60_000)),
  eventsPruneIntervalS: setting('EVENTS_PRUNE_INTERVAL_S', integer(3600, 1, 604_800)),
  eventRetentionDays: setting('EVENT_RETENTION_DAYS', integer(30, 1, 36_500)),
  /** Open event streams (GET /events/stream) per process; 0 turns the stream off. */
  eventsStreamMax: setting('EVENTS_STREAM_MAX', integer(100, 0, 100_000)),
  /** The longest a stream waits before reading the feed again when no notification wakes it. */
  eventsStreamPollMs: setting('EVENTS_STREAM_POLL_MS', integer(1000, 10, 60_000)),
  /** LISTEN for the publisher's notifications (false behind a pooler in transaction mode: streams then poll); false by default with DB_PREPARE=false. */
  eventsListen: setting('EVENTS_LISTEN', (name) => flag(name, true)),
  // Webhooks
  /** Let receivers be on loopback, private, link-local and other non-public addresses (local use, tests). */
  webhookAllowPrivate: setting('WEBHOOK_ALLOW_PRIVATE', flag),
  /** Requests in flight at once, per process. */
  webhookConcurrency: setting('WEBHOOK_CONCURRENCY', integer(16, 1, 1000)),
  /** How often a process looks for due deliveries. */
  webhookPollMs: setting('WEBHOOK_POLL_MS', integer(200, 10, 60_000)),
  /** The longest an address lookup, then a request, may take. */
  webhookTimeoutMs: setting('WEBHOOK_TIMEOUT_MS', integer(10_000, 100, 120_000)),
  /** The first retry's delay; each failure in a row doubles it, up to webhookRetryMaxMs, with jitter. */
  webhookRetryBaseMs: setting('WEBHOOK_RETRY_BASE_MS', integer(5000, 10, 3_600_000)),
  webhookRetryMaxMs: setting('WEBHOOK_RETRY_MAX_MS', integer(3_600_000, 10, 86_400_000)),
  /** A subscription failing for this long is disabled, with the reason. */
  webhookGiveUpAfterS: setting('WEBHOOK_GIVE_UP_AFTER_S', integer(86_400, 1, 30 * 86_400)),
};

type Settings = { [K in keyof typeof SETTINGS]: v.InferOutput<(typeof SETTINGS)[K]['schema']> };

export type Config = Omit<Settings, 'apiKeysFile'>;

/** The environment's shape: one entry per variable, so a bad value's issue is named by its variable. */
const EnvironmentSchema = v.object(Object.fromEntries(Object.values(SETTINGS).map((s) => [s.env, s.schema] as const)));

export class ConfigError extends Error {}

function readKeyFile(path: string): string[] {
  try {
    return readFileSync(path, 'utf8')
      .split(/[\n,]/)
      .map((k) => k.trim())
      .filter((k) => k && !k.startsWith('#'));
  } catch {
    throw new ConfigError(`invalid configuration:\n  ${SETTINGS.apiKeysFile.env}: cannot read ${path}`);
  }
}

/** Reads and validates the environment once, at start-up. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const result = v.safeParse(EnvironmentSchema, env);
  if (!result.success) {
    const lines = result.issues.map((issue) => {
      const key = v.getDotPath(issue) ?? 'environment';
      return `${key}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const values: Record<string, unknown> = result.output;
  const { apiKeysFile, ...settings } = Object.fromEntries(
    Object.entries(SETTINGS).map(([field, s]) => [field, values[s.env]] as const),
  ) as Settings;
  const apiKeys = [...settings.apiKeys, ...(apiKeysFile ? readKeyFile(apiKeysFile) : [])];
  const short = apiKeys.find((k) => k.length < 16);
  if (short !== undefined) {
    throw new ConfigError(`invalid configuration:\n  ${SETTINGS.apiKeys.env}: every key must be at least 16 characters`);
  }
  if (!settings.dbPrepare) {
    // Through a pooler in transaction mode a LISTEN holds no connection: notifications reach
    // whichever client happens to use that server connection next, never the listener.
    if (env[SETTINGS.eventsListen.env] === undefined) settings.eventsListen = false;
    else if (settings.eventsListen) {
      throw new ConfigError(
        `invalid configuration:\n  ${SETTINGS.eventsListen.env}: must be false with ${SETTINGS.dbPrepare.env}=false ` +
          '(LISTEN needs a session of its own, which a pooler in transaction mode does not keep; event streams poll instead)',
      );
    }
  }
  if (settings.databaseReadUrl !== undefined && settings.readMaxLagMs <= settings.readPollMs) {
    // The lag is known one poll late at best: a smaller bound would send every read without a token to the primary.
    throw new ConfigError(
      `invalid configuration:\n  ${SETTINGS.readMaxLagMs.env}: must be more than ${SETTINGS.readPollMs.env} (${settings.readPollMs})`,
    );
  }
  return { ...settings, apiKeys };
}

/** Settings for an app built in code (tests, tools): defaults for everything not given. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({ DATABASE_URL: 'postgres://localhost/inventory_db' }), ...overrides };
}
