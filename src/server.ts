import { createApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createPool } from './db.ts';
import { createLogger } from './logger.ts';

/** Reads the configuration, opens the pool, serves the app, and shuts down cleanly. */
export async function startServer(env: Record<string, string | undefined> = process.env) {
  const config = loadConfig(env);
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  const sql = createPool(config);
  const app = createApp({ sql, config, logger });
  if (config.apiKeys.length === 0) {
    logger.warn('no API_KEYS configured: writes are open to anyone who can reach the service');
  }
  const server = Bun.serve({ hostname: config.host, port: config.port, fetch: app.fetch });
  logger.info('listening', { url: `http://${config.host}:${server.port}`, docs: `http://${config.host}:${server.port}/docs` });

  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) =>
    (stopping ??= (async () => {
      logger.info('shutting down', { signal });
      await server.stop(); // stop accepting, let in-flight requests finish
      await sql.end({ timeout: 5 });
      logger.info('stopped');
    })());
  return { server, sql, config, logger, shutdown };
}

if (import.meta.main) {
  try {
    const { shutdown } = await startServer();
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => void shutdown(signal).then(() => process.exit(0)));
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`inventory-api: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}
