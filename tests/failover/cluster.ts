/**
 * A PostgreSQL 15 primary with a synchronous standby on loopback ports, from
 * Debian's binaries (PG15_BIN), in a temporary directory: what the failover
 * tests stop, promote and rebuild. As root, every program runs as the
 * `postgres` system user, like the embedded PostgreSQL (src/cli/embedded-postgres.ts).
 * `destroy()` stops whatever is still running and removes the directory.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort, postgresProcessUser, type RunAs } from '../../src/cli/embedded-postgres.ts';

export const PG15_BIN = '/usr/lib/postgresql/15/bin';
const PROGRAMS = ['initdb', 'pg_ctl', 'pg_basebackup', 'postgres'];
const missing = PROGRAMS.filter((p) => !existsSync(join(PG15_BIN, p)));
/** Whether the suite can run here; when not, `SKIPPED` says why. */
export const PG15_AVAILABLE = missing.length === 0;
export const SKIPPED = `skipped: PostgreSQL 15 binaries not found at ${PG15_BIN} (missing: ${missing.join(', ')})`;

export type Node = { name: string; port: number; dir: string };

/** Runs one of PostgreSQL's programs to its end (at most 60 s); throws with its output when it fails. */
async function run(who: RunAs | undefined, cwd: string, program: string, args: string[], env: Record<string, string> = {}) {
  const result = await new Promise<{ code: number | null; output: string }>((done) => {
    let output = '';
    const child = spawn(join(PG15_BIN, program), args, {
      cwd,
      ...(who ? { uid: who.uid, gid: who.gid } : {}),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, LC_ALL: 'C.UTF-8', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const limit = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', (error) => {
      clearTimeout(limit);
      done({ code: null, output: `${output}${error.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(limit);
      done({ code, output });
    });
  });
  if (result.code !== 0) throw new Error(`${program} ${args.join(' ')} failed (${result.code}): ${result.output.trim()}`);
  return result.output;
}

export type Cluster = Awaited<ReturnType<typeof startCluster>>;

/**
 * Starts node `a` as the primary (synchronous_standby_names = node_b) and
 * node `b` as its synchronous hot standby, and waits until b is in sync.
 */
export async function startCluster() {
  const who = await postgresProcessUser();
  const root = mkdtempSync(join(tmpdir(), 'inventory-failover-'));
  chmodSync(root, 0o755);
  if (who) chownSync(root, who.uid, who.gid);
  const password = randomBytes(12).toString('hex');
  const env = { PGPASSWORD: password };
  /** Data directories of every postmaster started, stopped by destroy(). */
  const started = new Set<string>();

  const pg = (program: string, args: string[]) => run(who, root, program, args, env);
  const conf = (node: Node, lines: Record<string, string>) =>
    appendFileSync(
      join(node.dir, 'postgresql.auto.conf'),
      Object.entries(lines)
        .map(([k, v]) => `${k} = '${v}'\n`)
        .join(''),
    );
  const newNode = async (name: string, port?: number): Promise<Node> => ({
    name,
    port: port ?? (await freePort()),
    dir: join(root, `${name}-${randomBytes(3).toString('hex')}`),
  });
  const start = async (node: Node) => {
    started.add(node.dir);
    await pg('pg_ctl', ['-D', node.dir, '-l', `${node.dir}.log`, '-w', '-t', '60', 'start']);
  };
  /** A superuser connection to one node (no retries: for checks and set-up). */
  const connect = (node: Node, database = 'postgres') =>
    postgres(adminUrl(node, database), { max: 1, onnotice: () => {}, connect_timeout: 5 });
  const adminUrl = (node: Node, database = 'postgres') => `postgres://postgres:${password}@127.0.0.1:${node.port}/${database}`;

  /** A fresh hot standby of `source` at `node`, streaming as `node.name` (in sync when `source` names it). */
  const startStandby = async (source: Node, node: Node, sync: boolean) => {
    await pg('pg_basebackup', [
      '-D',
      node.dir,
      '-h',
      '127.0.0.1',
      '-p',
      String(source.port),
      '-U',
      'postgres',
      '-X',
      'stream',
      '-c',
      'fast',
      '-R',
      '--no-sync',
    ]);
    conf(node, {
      port: String(node.port),
      primary_conninfo: `host=127.0.0.1 port=${source.port} user=postgres password=${password} application_name=${node.name}`,
      // Once promoted it has no standby of its own: commits must not wait for one.
      synchronous_standby_names: '',
    });
    await start(node);
    await waitFor(`${node.name} streaming from ${source.name}`, async () => {
      const sql = connect(source);
      try {
        const rows = await sql`
          SELECT 1 FROM pg_stat_replication
          WHERE application_name = ${node.name} AND state = 'streaming' AND (sync_state = 'sync' OR NOT ${sync})`;
        return rows.length === 1;
      } catch {
        return false; // not accepting connections yet
      } finally {
        await sql.end({ timeout: 1 });
      }
    });
  };

  const a = await newNode('node_a');
  const b = await newNode('node_b');
  try {
    const pwfile = join(root, 'pwfile');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (who) chownSync(pwfile, who.uid, who.gid);
    await pg('initdb', [
      '-D',
      a.dir,
      '--auth=scram-sha-256',
      '--username=postgres',
      `--pwfile=${pwfile}`,
      '--encoding=UTF8',
      '--locale=C.UTF-8',
      '--no-sync',
    ]);
    conf(a, {
      listen_addresses: '127.0.0.1',
      port: String(a.port),
      unix_socket_directories: '',
      max_connections: '100',
      // The machine does not crash in these tests, the processes do: the OS keeps what was written.
      fsync: 'off',
      synchronous_standby_names: b.name,
      wal_keep_size: '64MB',
    });
    await start(a);
    await startStandby(a, b, true);
  } catch (error) {
    await destroy();
    throw error;
  }

  /** Stops a node at once, like a crash (pg_ctl stop -m immediate). */
  const stopHard = async (node: Node) => {
    await pg('pg_ctl', ['-D', node.dir, '-m', 'immediate', '-w', 'stop']);
    started.delete(node.dir);
  };

  async function destroy() {
    for (const dir of started) {
      try {
        await pg('pg_ctl', ['-D', dir, '-m', 'immediate', '-w', '-t', '10', 'stop']);
      } catch {
        // pg_ctl could not stop it: end the postmaster by its pid
        try {
          const pid = Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
          if (pid > 0) process.kill(pid, 'SIGKILL');
        } catch {
          // not running
        }
      }
    }
    started.clear();
    rmSync(root, { recursive: true, force: true });
  }

  return {
    a,
    b,
    password,
    adminUrl,
    connect,
    stopHard,
    /** Begins a smart shutdown and returns: the node waits for its sessions to end, refusing new ones (57P03). */
    stopSmart: (node: Node) => pg('pg_ctl', ['-D', node.dir, '-m', 'smart', '-W', 'stop']),
    /** Promotes a standby and waits until it accepts writes. */
    promote: (node: Node) => pg('pg_ctl', ['-D', node.dir, '-w', '-t', '60', 'promote']),
    /** Rebuilds a node (on its old port, its old data discarded) as a standby of `source`. */
    rejoin: async (node: Node, source: Node) => {
      const fresh = await newNode(node.name, node.port);
      await startStandby(source, fresh, false);
      return fresh;
    },
    destroy,
  };
}

/** Waits until `check` holds, at most `ms`; an error `check` throws ends the wait. */
export async function waitFor(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await check();
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${ms} ms`);
    await Bun.sleep(100);
  }
}
