/**
 * Debian's PgBouncer 1.18 in `pool_mode = transaction` on a free loopback port,
 * in front of a PostgreSQL on 127.0.0.1 (the tests' server): every database
 * name is passed on to it. The pool is small on purpose (DEFAULT_POOL_SIZE
 * server connections per database and user), so a service pool of 10 shares
 * them and any session state the service left behind would reach another client.
 *
 * Clients authenticate with SCRAM-SHA-256 against an auth_file holding the
 * users' passwords in plain text (the file stays in a 0700 temporary
 * directory): PgBouncer needs the plain password anyway to log in to a server
 * that asks for SCRAM, and clients use their passwords as in production.
 * As root, PgBouncer (which refuses to run as root) runs as the `postgres`
 * system user, like the tests' PostgreSQL. `stop()` ends it and removes the directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, postgresProcessUser } from '../../src/cli/embedded-postgres.ts';

export const PGBOUNCER = '/usr/sbin/pgbouncer';
/** Whether the suite can run here; when not, `SKIPPED` says why. */
export const PGBOUNCER_AVAILABLE = existsSync(PGBOUNCER);
export const SKIPPED = `skipped: PgBouncer not found at ${PGBOUNCER} (scripts/ensure-cluster-tools.sh installs it)`;

/** Server connections per database and user: fewer than the service's pool, so they are shared. */
export const DEFAULT_POOL_SIZE = 2;

export type PgBouncer = {
  port: number;
  /** `url` (a postgres:// URL) with PgBouncer's host and port instead. */
  via: (url: string) => string;
  /** What PgBouncer wrote to stderr so far (for failure messages). */
  log: () => string;
  stop: () => Promise<void>;
};

export type PgBouncerOptions = {
  /** The PostgreSQL on 127.0.0.1 it pools. */
  serverPort: number;
  /** Who may connect, with their passwords (the same as on the server). */
  users: { user: string; password: string }[];
  /** Start-up parameters it accepts and drops instead of refusing the connection (none by default, as shipped). */
  ignoreStartupParameters?: string[];
};

/** A configuration value in pgbouncer.ini's quoting. */
const quoted = (text: string) => `"${text.replaceAll('"', '""')}"`;

/** Starts PgBouncer and waits (at most 10 s) until it accepts connections. */
export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const who = await postgresProcessUser();
  const dir = mkdtempSync(join(tmpdir(), 'inventory-pgbouncer-'));
  let child: ChildProcess | undefined;
  let output = '';
  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((done) => child!.once('exit', () => done()));
      child.kill('SIGTERM'); // immediate shutdown
      const killed = setTimeout(() => child!.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killed);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    chmodSync(dir, 0o700);
    if (who) chownSync(dir, who.uid, who.gid);
    const port = await freePort();
    const authFile = join(dir, 'userlist.txt');
    writeFileSync(authFile, options.users.map((u) => `${quoted(u.user)} ${quoted(u.password)}\n`).join(''), { mode: 0o600 });
    const ini = join(dir, 'pgbouncer.ini');
    writeFileSync(
      ini,
      [
        '[databases]',
        `* = host=127.0.0.1 port=${options.serverPort}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        `pidfile = ${join(dir, 'pgbouncer.pid')}`,
        'auth_type = scram-sha-256',
        `auth_file = ${authFile}`,
        'pool_mode = transaction',
        'max_client_conn = 200',
        `default_pool_size = ${DEFAULT_POOL_SIZE}`,
        'min_pool_size = 0',
        'reserve_pool_size = 0',
        // A client waiting for a server connection longer than this is refused (instead of hanging a test).
        'query_wait_timeout = 20',
        `ignore_startup_parameters = ${(options.ignoreStartupParameters ?? []).join(',')}`,
        'log_connections = 0',
        'log_disconnections = 0',
        'log_pooler_errors = 1',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    if (who) for (const file of [authFile, ini]) chownSync(file, who.uid, who.gid);

    const started = spawn(PGBOUNCER, [ini], {
      cwd: dir,
      ...(who ? { uid: who.uid, gid: who.gid } : {}),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = started;
    started.stdout!.on('data', (chunk) => (output += chunk));
    started.stderr!.on('data', (chunk) => (output += chunk));
    const failed = new Promise<never>((_, reject) => {
      started.once('error', reject);
      started.once('exit', (code, signal) => reject(new Error(`pgbouncer exited (${code ?? signal}): ${output.trim()}`)));
    });
    failed.catch(() => {}); // awaited below while starting; later exits are stop()'s
    await Promise.race([waitForPort(port, 10_000), failed]);
    return {
      port,
      via: (url: string) => {
        const u = new URL(url);
        u.hostname = '127.0.0.1';
        u.port = String(port);
        return u.toString();
      },
      log: () => output,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Waits until something accepts TCP connections on 127.0.0.1:`port`, at most `ms`. */
async function waitForPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const open = await new Promise<boolean>((done) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`PgBouncer did not accept connections on port ${port} within ${ms} ms`);
    await Bun.sleep(50);
  }
}
