import { describe, expect, test } from 'bun:test';
import { ConfigError, loadConfig } from '../src/config.ts';
import { HEADER_SIZE_FLAG } from '../src/server.ts';

const url = 'postgres://u:p@127.0.0.1:5432/db';

describe('configuration', () => {
  test('applies defaults', () => {
    expect(loadConfig({ DATABASE_URL: url })).toEqual({
      databaseUrl: url,
      databaseReadUrl: undefined,
      readPoolMax: 10,
      readMaxLagMs: 1000,
      readPollMs: 100,
      host: '127.0.0.1',
      port: 8000,
      poolMax: 10,
      logLevel: 'info',
      logFormat: 'auto',
      statementTimeoutMs: 5000,
      connectTimeoutMs: 2000,
      poolWaitMs: 2000,
      poolPipelineDepth: 4,
      dbPrepare: true,
      apiKeys: [],
      readsRequireKey: false,
      corsOrigins: [],
      rateLimitMax: 0,
      rateLimitWindowS: 60,
      trustProxy: false,
      webConcurrency: 1,
      backgroundJobs: true,
      eventsPublishIntervalMs: 100,
      eventsPruneIntervalS: 3600,
      eventRetentionDays: 30,
      eventsStreamMax: 100,
      eventsStreamPollMs: 1000,
      eventsListen: true,
      webhookAllowPrivate: false,
      webhookConcurrency: 16,
      webhookPollMs: 200,
      webhookTimeoutMs: 10_000,
      webhookRetryBaseMs: 5000,
      webhookRetryMaxMs: 3_600_000,
      webhookGiveUpAfterS: 86_400,
    });
  });

  test('reads every setting from the environment', () => {
    const c = loadConfig({ DATABASE_URL: url, HOST: '0.0.0.0', PORT: '9000', DB_POOL_MAX: '25', LOG_LEVEL: 'warn' });
    expect(c).toMatchObject({ host: '0.0.0.0', port: 9000, poolMax: 25, logLevel: 'warn' });
  });

  test.each([
    [{}, 'DATABASE_URL'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ DATABASE_URL: url, PORT: 'eighty' }, 'PORT'],
    [{ DATABASE_URL: url, PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: url, DB_POOL_MAX: '0' }, 'DB_POOL_MAX'],
    [{ DATABASE_URL: url, LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ DATABASE_URL: url, API_KEYS: 'short' }, 'API_KEYS'],
    [{ DATABASE_URL: url, API_KEYS_FILE: '/nonexistent/keys' }, 'API_KEYS_FILE'],
    [{ DATABASE_URL: url, API_READS_REQUIRE_KEY: 'yes' }, 'API_READS_REQUIRE_KEY'],
    [{ DATABASE_URL: url, DB_STATEMENT_TIMEOUT_MS: '5' }, 'DB_STATEMENT_TIMEOUT_MS'],
    [{ DATABASE_URL: url, DB_PREPARE: 'no' }, 'DB_PREPARE'],
    [{ DATABASE_URL: url, WEBHOOK_TIMEOUT_MS: '50' }, 'WEBHOOK_TIMEOUT_MS'],
    [{ DATABASE_URL: url, DATABASE_READ_URL: 'mysql://x' }, 'DATABASE_READ_URL'],
    [{ DATABASE_URL: url, DATABASE_READ_URL: 'postgres://u@[::1/db' }, 'DATABASE_READ_URL'],
    [{ DATABASE_URL: url, DATABASE_READ_URL: url, DB_READ_MAX_LAG_MS: '100', DB_READ_POLL_MS: '100' }, 'DB_READ_MAX_LAG_MS'],
  ])('refuses %p naming %s', (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(new RegExp(`${name}:`));
  });

  test('DB_PREPARE=false (a pooler in transaction mode) turns LISTEN off unless told, and refuses EVENTS_LISTEN=true', () => {
    expect(loadConfig({ DATABASE_URL: url, DB_PREPARE: 'false' })).toMatchObject({ dbPrepare: false, eventsListen: false });
    expect(loadConfig({ DATABASE_URL: url, DB_PREPARE: 'false', EVENTS_LISTEN: 'false' }).eventsListen).toBe(false);
    expect(loadConfig({ DATABASE_URL: url, DB_PREPARE: 'true' })).toMatchObject({ dbPrepare: true, eventsListen: true });
    const env = { DATABASE_URL: url, DB_PREPARE: '0', EVENTS_LISTEN: 'true' };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/EVENTS_LISTEN: must be false with DB_PREPARE=false/);
  });

  test('reads API keys from the environment and from a file', async () => {
    const file = `${process.env.TMPDIR ?? '/tmp'}/inventory-keys-${process.pid}`;
    await Bun.write(file, '# writers\nkey-from-file-0123456789\n');
    const c = loadConfig({ DATABASE_URL: url, API_KEYS: 'key-from-env-0123456789, other-key-0123456789', API_KEYS_FILE: file });
    expect(c.apiKeys).toEqual(['key-from-env-0123456789', 'other-key-0123456789', 'key-from-file-0123456789']);
  });

  test('the server exits with a message naming the bad value', async () => {
    const proc = Bun.spawn(['bun', HEADER_SIZE_FLAG, 'src/server.ts'], {
      cwd: `${import.meta.dir}/..`,
      env: { PATH: process.env.PATH, DATABASE_URL: url, PORT: 'abc' },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect(code).toBe(2);
    expect(stderr).toContain('PORT');
  });
});
