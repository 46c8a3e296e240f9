import * as v from 'valibot';
import { readFileSync } from 'node:fs';

const integer = (name: string, fallback: number, min: number, max: number) =>
  v.pipe(
    v.optional(v.string(), String(fallback)),
    v.regex(/^\d+$/, `${name} must be a whole number`),
    v.transform(Number),
    v.minValue(min, `${name} must be at least ${min}`),
    v.maxValue(max, `${name} must be at most ${max}`),
  );

const flag = (name: string) =>
  v.pipe(
    v.optional(v.picklist(['true', 'false', '1', '0'], `${name} must be true or false`), 'false'),
    v.transform((s) => s === 'true' || s === '1'),
  );

const list = v.pipe(
  v.optional(v.string(), ''),
  v.transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)),
);

const ConfigSchema = v.object({
  DATABASE_URL: v.pipe(
    v.string('DATABASE_URL is required (postgres://user:password@host:port/database)'),
    v.regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must start with postgres:// or postgresql://'),
  ),
  HOST: v.optional(v.pipe(v.string(), v.nonEmpty('HOST must not be empty')), '127.0.0.1'),
  PORT: integer('PORT', 8000, 0, 65535),
  DB_POOL_MAX: integer('DB_POOL_MAX', 10, 1, 1000),
  DB_STATEMENT_TIMEOUT_MS: integer('DB_STATEMENT_TIMEOUT_MS', 5000, 100, 600_000),
  DB_CONNECT_TIMEOUT_MS: integer('DB_CONNECT_TIMEOUT_MS', 2000, 100, 60_000),
  DB_POOL_WAIT_MS: integer('DB_POOL_WAIT_MS', 2000, 1, 60_000),
  LOG_LEVEL: v.optional(
    v.picklist(['debug', 'info', 'warn', 'error', 'silent'], 'LOG_LEVEL must be one of debug, info, warn, error, silent'),
    'info',
  ),
  LOG_FORMAT: v.optional(v.picklist(['json', 'pretty', 'auto'], 'LOG_FORMAT must be json, pretty or auto'), 'auto'),
  API_KEYS: list,
  API_KEYS_FILE: v.optional(v.pipe(v.string(), v.nonEmpty('API_KEYS_FILE must name a file'))),
  API_READS_REQUIRE_KEY: flag('API_READS_REQUIRE_KEY'),
  CORS_ORIGINS: list,
  RATE_LIMIT_MAX: integer('RATE_LIMIT_MAX', 0, 0, 1_000_000),
  RATE_LIMIT_WINDOW_S: integer('RATE_LIMIT_WINDOW_S', 60, 1, 86_400),
  TRUST_PROXY: flag('TRUST_PROXY'),
  WEB_CONCURRENCY: integer('WEB_CONCURRENCY', 1, 1, 64),
});

export type Config = {
  databaseUrl: string;
  host: string;
  port: number;
  poolMax: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  poolWaitMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  logFormat: 'json' | 'pretty' | 'auto';
  /** Bearer keys that may write; empty means writes are open. */
  apiKeys: string[];
  readsRequireKey: boolean;
  corsOrigins: string[];
  /** Requests per client and window; 0 turns rate limiting off. */
  rateLimitMax: number;
  rateLimitWindowS: number;
  trustProxy: boolean;
  webConcurrency: number;
};

export class ConfigError extends Error {}

function readKeyFile(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split(/[\n,]/).map((k) => k.trim()).filter((k) => k && !k.startsWith('#'));
  } catch {
    throw new ConfigError(`invalid configuration:\n  API_KEYS_FILE: cannot read ${path}`);
  }
}

/** Reads and validates the environment once, at start-up. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const result = v.safeParse(ConfigSchema, env);
  if (!result.success) {
    const lines = result.issues.map((issue) => {
      const key = v.getDotPath(issue) ?? 'environment';
      return `${key}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const c = result.output;
  const apiKeys = [...c.API_KEYS, ...(c.API_KEYS_FILE ? readKeyFile(c.API_KEYS_FILE) : [])];
  const short = apiKeys.find((k) => k.length < 16);
  if (short !== undefined) {
    throw new ConfigError('invalid configuration:\n  API_KEYS: every key must be at least 16 characters');
  }
  return {
    databaseUrl: c.DATABASE_URL,
    host: c.HOST,
    port: c.PORT,
    poolMax: c.DB_POOL_MAX,
    statementTimeoutMs: c.DB_STATEMENT_TIMEOUT_MS,
    connectTimeoutMs: c.DB_CONNECT_TIMEOUT_MS,
    poolWaitMs: c.DB_POOL_WAIT_MS,
    logLevel: c.LOG_LEVEL,
    logFormat: c.LOG_FORMAT,
    apiKeys,
    readsRequireKey: c.API_READS_REQUIRE_KEY,
    corsOrigins: c.CORS_ORIGINS,
    rateLimitMax: c.RATE_LIMIT_MAX,
    rateLimitWindowS: c.RATE_LIMIT_WINDOW_S,
    trustProxy: c.TRUST_PROXY,
    webConcurrency: c.WEB_CONCURRENCY,
  };
}

/** Settings for an app built in code (tests, tools): defaults for everything not given. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({ DATABASE_URL: 'postgres://localhost/inventory_db' }), ...overrides };
}
