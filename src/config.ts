import * as v from 'valibot';

const integer = (name: string, fallback: number, min: number, max: number) =>
  v.pipe(
    v.optional(v.string(), String(fallback)),
    v.regex(/^\d+$/, `${name} must be a whole number`),
    v.transform(Number),
    v.minValue(min, `${name} must be at least ${min}`),
    v.maxValue(max, `${name} must be at most ${max}`),
  );

const ConfigSchema = v.object({
  DATABASE_URL: v.pipe(
    v.string('DATABASE_URL is required (postgres://user:password@host:port/database)'),
    v.regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must start with postgres:// or postgresql://'),
  ),
  HOST: v.optional(v.pipe(v.string(), v.nonEmpty('HOST must not be empty')), '127.0.0.1'),
  PORT: integer('PORT', 8000, 0, 65535),
  DB_POOL_MAX: integer('DB_POOL_MAX', 10, 1, 1000),
  LOG_LEVEL: v.optional(
    v.picklist(['debug', 'info', 'warn', 'error', 'silent'], 'LOG_LEVEL must be one of debug, info, warn, error, silent'),
    'info',
  ),
});

export type Config = {
  databaseUrl: string;
  host: string;
  port: number;
  poolMax: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
};

export class ConfigError extends Error {}

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
  return {
    databaseUrl: c.DATABASE_URL,
    host: c.HOST,
    port: c.PORT,
    poolMax: c.DB_POOL_MAX,
    logLevel: c.LOG_LEVEL,
  };
}
