import { maxHeaderSize } from 'node:http';
import { createApp } from './app.ts';
import { backgroundPool, startBackground } from './background.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createPool } from './db.ts';
import { MAX_HEADER_BYTES, MAX_URL_BYTES, SERVER_HEADER_BYTES } from './http/middleware.ts';
import { createLogger } from './logger.ts';

/** The address to listen on is taken by another program. */
export class PortInUseError extends Error {
  constructor(host: string, port: number) {
    super(`port ${port} on ${host} is in use by another program: stop it or set PORT to another port`);
  }
}

/** The flag that lets request heads up to SERVER_HEADER_BYTES reach the app (see run.sh, Dockerfile). */
export const HEADER_SIZE_FLAG = `--max-http-header-size=${SERVER_HEADER_BYTES}`;

/** Reads the configuration, opens the pool, serves the app, and shuts down cleanly. */
export async function startServer(env: Record<string, string | undefined> = process.env) {
  const config = loadConfig(env);
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  const sql = createPool(config);
  const app = createApp({ sql, config, logger });
  const worker = env.INVENTORY_WORKER !== undefined;
  if (config.apiKeys.length === 0 && !worker) {
    logger.warn('no API_KEYS configured: writes are open to anyone who can reach the service');
  }
  if (maxHeaderSize < MAX_URL_BYTES + MAX_HEADER_BYTES && !worker) {
    logger.warn(
      `Bun refuses request heads over ${maxHeaderSize} bytes with a bare 431 before the API sees them: ` +
        `start it as \`bun ${HEADER_SIZE_FLAG}\` (run.sh and the Docker image do)`,
    );
  }
  // With several processes, each binds the same port (SO_REUSEPORT) and the kernel spreads connections.
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: config.host,
      port: config.port,
      reusePort: config.webConcurrency > 1,
      fetch: app.fetch,
    });
  } catch (error) {
    await sql.end({ timeout: 1 });
    if ((error as { code?: string }).code === 'EADDRINUSE') throw new PortInUseError(config.host, config.port);
    throw error;
  }

  const workers = worker ? [] : spawnWorkers(config.webConcurrency - 1, { ...env, PORT: String(server.port) });
  // Every process runs the background jobs unless BACKGROUND_JOBS=false: the publisher is single-flight in SQL.
  const backgroundSql = backgroundPool(config);
  const background = startBackground({ sql: backgroundSql, config, logger });
  if (!worker) {
    logger.info('listening', {
      url: `http://${config.host}:${server.port}`,
      docs: `http://${config.host}:${server.port}/docs`,
      processes: config.webConcurrency,
    });
  }

  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) =>
    (stopping ??= (async () => {
      logger.info('shutting down', { signal });
      for (const w of workers) w.kill('SIGTERM');
      const stopped = server.stop(); // stop accepting, let in-flight requests finish
      await app.eventStreams.close(); // streams end (clients reconnect with Last-Event-ID elsewhere)
      await stopped;
      // the background jobs: their current step (webhooks: requests in flight finish, leases given back)
      await background.stop();
      await Promise.all([sql.end({ timeout: 5 }), backgroundSql.end({ timeout: 5 }), app.close()]);
      await Promise.all(workers.map((w) => w.exited));
      logger.info('stopped');
    })());
  return { server, sql, config, logger, shutdown };
}

/** Extra server processes on the same port, each with its own pool; they stop when we stop. */
function spawnWorkers(count: number, env: Record<string, string | undefined>) {
  return Array.from({ length: Math.max(0, count) }, (_, i) =>
    Bun.spawn([process.execPath, `--max-http-header-size=${maxHeaderSize}`, import.meta.path], {
      env: { ...env, INVENTORY_WORKER: String(i + 1) },
      stdio: ['ignore', 'inherit', 'inherit'],
    }),
  );
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
    if (error instanceof PortInUseError) {
      process.stderr.write(`inventory-api: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
