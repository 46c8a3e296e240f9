/**
 * `bun run worker`: the background jobs (src/background.ts) without HTTP, for
 * deployments whose API processes run with BACKGROUND_JOBS=false. It runs
 * them whatever BACKGROUND_JOBS says, and stops cleanly on SIGTERM or SIGINT.
 */
import { backgroundPool, startBackground } from './background.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';

/** Reads the configuration, opens a pool and starts the jobs; `shutdown` stops them and closes the pool. */
export function startWorker(env: Record<string, string | undefined> = process.env) {
  const config = { ...loadConfig(env), backgroundJobs: true };
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  const sql = backgroundPool(config);
  const background = startBackground({ sql, config, logger });
  logger.info('worker started', { jobs: background.names });
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) =>
    (stopping ??= (async () => {
      logger.info('shutting down', { signal });
      await background.stop();
      await sql.end({ timeout: 5 });
      logger.info('stopped');
    })());
  return { config, logger, shutdown };
}

if (import.meta.main) {
  try {
    const { shutdown } = startWorker();
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => void shutdown(signal).then(() => process.exit(0)));
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`inventory-worker: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}
