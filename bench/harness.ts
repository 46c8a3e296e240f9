/**
 * What the benchmark scripts share (bench/run.ts, bench/ab.ts): the load generators (wrk against
 * a server, pgbench running the service's SQL), the service started as its own process from a
 * checkout, and the CPU each measurement cost the server and PostgreSQL. Every service started
 * here is stopped by stopServices(), which the scripts call however they end.
 *
 * BENCH_SECONDS (10) per measurement, BENCH_CONNECTIONS (32) for wrk; the service's pool and
 * pgbench's clients are POOL (10).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type postgres from 'postgres';
import { freePort } from '../src/cli/embedded-postgres.ts';
import { ROOT } from '../src/cli/paths.ts';
import { postgresChildren, postgresCpuSeconds, processCpuSeconds, waitForExit } from './profile.ts';

export const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
export const POOL = 10;
export const OUT = join(ROOT, 'bench/out');
mkdirSync(OUT, { recursive: true });

/** A line on stdout, after the script's name. */
/**
 * BENCH_PIN=separate: the nearest this machine comes to a database on a host of its own.
 * PostgreSQL (its postmaster, so every backend it forks later, pgbench's too) runs on core 0;
 * the benchmark, the services it starts and the load generators (wrk, pgbench's client) on
 * core 1. Unset (or `shared`): everything shares every core. Needs taskset and 2 cores or more.
 */
export const PIN = (process.env.BENCH_PIN ?? 'shared') as 'shared' | 'separate';
if (PIN !== 'shared' && PIN !== 'separate') throw new Error('BENCH_PIN must be shared or separate');

/** Sets the CPU affinity of a process and all its threads. */
function taskset(cpu: number, pid: number) {
  const r = Bun.spawnSync(['taskset', '-a', '-p', '-c', String(cpu), String(pid)], { stdout: 'ignore', stderr: 'pipe' });
  if (r.exitCode !== 0) throw new Error(`taskset -c ${cpu} ${pid} failed: ${r.stderr.toString().trim()}`);
}

/** In the separate mode, moves this process (and so whatever it starts from now on) to core 1. */
export function pinBenchmark(): void {
  if (PIN === 'separate') taskset(1, process.pid);
}

/** In the separate mode, moves PostgreSQL (postmaster and its running processes) to core 0; backends it forks later follow. */
export function pinPostgres(postmaster: number): void {
  if (PIN !== 'separate') return;
  for (const pid of [postmaster, ...postgresChildren(postmaster)]) taskset(0, pid);
  const cores = (pid: number) => /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  log(`PostgreSQL on core ${cores(postmaster)}, the benchmark on core ${cores(process.pid)}`);
}

/** How the run placed its processes, for the reports. */
export const placement = () =>
  PIN === 'separate'
    ? 'PostgreSQL pinned to core 0, the services and load generators to core 1 (BENCH_PIN=separate)'
    : 'load generator, services and PostgreSQL share the machine';

/**
 * Publishes every event a load wrote (a database with the events outbox: each product loaded
 * wrote its product.created and stock events), so that no service's background publisher
 * numbers that backlog during the first measurements and charges its CPU to them. Returns how
 * many were published.
 */
export async function publishLoadedEvents(sql: postgres.Sql): Promise<number> {
  const [outbox] = await sql<{ exists: boolean }[]>`SELECT to_regproc('events_publish') IS NOT NULL AS exists`;
  if (!outbox!.exists) return 0;
  let total = 0;
  for (;;) {
    const [row] = await sql<{ n: number }[]>`SELECT events_publish(50000)::int AS n`;
    if (!row!.n) return total;
    total += row!.n;
  }
}

/** The server settings that let a benchmark count statements: pg_stat_statements, top-level statements only. */
export const STATEMENT_COUNTERS = { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'top' };

/**
 * Resolves with `run`'s result once the database `stats` is connected to has no event left
 * without a position (at most 60 s after it ends; at once where the schema has no events): a
 * measured write pays for numbering its own events, and no later measurement does.
 */
export async function untilPublished<T>(stats: postgres.Sql, run: Promise<T>): Promise<T> {
  const result = await run;
  const [outbox] = await stats<{ exists: boolean }[]>`SELECT to_regclass('events') IS NOT NULL AS exists`;
  for (let waited = 0; outbox!.exists && waited < 60_000; waited += 20) {
    const [row] = await stats<{ pending: boolean }[]>`SELECT EXISTS (SELECT 1 FROM events WHERE position IS NULL) AS pending`;
    if (!row!.pending) break;
    await Bun.sleep(20);
  }
  return result;
}

export type Statements = {
  /** Top-level statements per request (each a round trip), and their execution time in µs per request. */
  perRequest: number;
  execUs: number;
  /** The statements sent at least once per 20 requests, most frequent first. */
  top: { query: string; perRequest: number; execUs: number }[];
};

/**
 * What pg_stat_statements counted in the database `stats` is connected to (as a superuser) since
 * its last reset, per request: every other role's statements (the service's, the bare stack's and
 * pgbench's), not this connection's own.
 */
export async function statementsOf(stats: postgres.Sql, requests: number): Promise<Statements> {
  const rows = await stats<{ query: string; calls: number; ms: number }[]>`
    SELECT s.query, s.calls::float8 AS calls, s.total_exec_time AS ms
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname = current_database() AND s.userid <> (SELECT oid FROM pg_roles WHERE rolname = current_user)
    ORDER BY s.calls DESC`;
  const per = (x: number) => (requests ? x / requests : Number.NaN);
  return {
    perRequest: per(rows.reduce((n, row) => n + row.calls, 0)),
    execUs: per(rows.reduce((n, row) => n + row.ms, 0) * 1000),
    top: rows
      .filter((row) => per(row.calls) >= 0.05)
      .slice(0, 6)
      .map((row) => ({
        query: row.query.replace(/\s+/g, ' ').slice(0, 90),
        perRequest: per(row.calls),
        execUs: per(row.ms * 1000),
      })),
  };
}

export const logger = (name: string) => (line: string) => process.stdout.write(`${name}: ${line}\n`);
const log = logger('bench');

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

// ------------------------------------------------------------------ tools

/** Runs a command to its end: its output, exit code and the CPU seconds it used (user + system). */
export async function sh(cmd: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}) {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env ?? process.env, stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const cpu = Number(proc.resourceUsage()?.cpuTime.total ?? 0) / 1e6;
  return { out, err, code, cpu };
}

export async function ensureWrk(): Promise<string> {
  const found = Bun.which('wrk');
  if (found) return found;
  log('installing wrk from Debian packages');
  await sh(['apt-get', 'update', '-qq']);
  const r = await sh(['apt-get', 'install', '-y', '-qq', 'wrk'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const wrk = Bun.which('wrk');
  if (!wrk) throw new Error(`cannot install wrk: ${r.err}`);
  return wrk;
}

/** pgbench from PATH or an installed PostgreSQL; otherwise unpacked from Debian's package without installing a server. */
export async function ensurePgbench(): Promise<string> {
  const candidates = [Bun.which('pgbench'), ...['17', '16', '15'].map((v) => `/usr/lib/postgresql/${v}/bin/pgbench`)];
  for (const c of candidates) if (c && existsSync(c)) return c;
  const dir = join(OUT, 'pgbench');
  mkdirSync(dir, { recursive: true });
  const local = readdirSync(dir, { recursive: true })
    .map(String)
    .find((f) => f.endsWith('bin/pgbench'));
  if (local) return join(dir, local);
  log("unpacking pgbench from Debian's postgresql package");
  await sh(['apt-get', 'update', '-qq']);
  const policy = await sh(['apt-cache', 'search', '--names-only', '^postgresql-1[0-9]$']);
  const pkg =
    policy.out
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter(Boolean)
      .sort()
      .pop() ?? 'postgresql-15';
  await sh(['apt-get', 'download', pkg!], { cwd: dir });
  const deb = readdirSync(dir).find((f) => f.endsWith('.deb'));
  if (!deb) throw new Error('cannot download pgbench');
  await sh(['dpkg', '-x', deb, 'x'], { cwd: dir });
  const found = readdirSync(dir, { recursive: true })
    .map(String)
    .find((f) => f.endsWith('bin/pgbench'));
  if (!found) throw new Error('pgbench not found in the package');
  return join(dir, found);
}

// ------------------------------------------------------------------ the service

export type Server = { proc: Bun.Subprocess; base: string; port: number; stop: () => Promise<void> };

export type ServiceOptions = {
  processes?: number;
  /** The program to serve, relative to `root`: the service (default) or the bare reference server. */
  script?: string;
  /** The checkout to serve from (default: this one). */
  root?: string;
  /** Names its log file, bench/out/server-<label>-....log (default: the script's path). */
  label?: string;
  /** Bun flags before the script, such as --cpu-prof. */
  bunFlags?: string[];
  /** More environment for the service (settings). */
  env?: Record<string, string>;
};

/** Every service started here and not stopped yet. */
const running = new Set<Server>();

/** Stops every service started here that is still running (each script calls it however it ends). */
export async function stopServices(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
}

// However the script ends, no service outlives it: interrupted too, as exiting runs the
// 'exit' handlers (this one, and the embedded PostgreSQL's, which stops it).
process.on('exit', () => {
  for (const s of running) s.proc.kill('SIGKILL');
});
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

/** Starts the service (or `script`) from `root` on a free port; resolves once it answers /readyz, or fails and stops it. */
export async function startService(apiUrl: string, o: ServiceOptions = {}): Promise<Server> {
  const processes = o.processes ?? 1;
  const script = o.script ?? 'src/server.ts';
  const port = await freePort();
  const logPath = join(OUT, `server-${(o.label ?? script).replace(/\W+/g, '-')}-${processes}p.log`);
  const proc = Bun.spawn(['bun', ...(o.bunFlags ?? []), script], {
    cwd: o.root ?? ROOT,
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: apiUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      DB_POOL_MAX: String(POOL),
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      WEB_CONCURRENCY: String(processes),
      // The heap sizing ./run.sh gives the service (see run.sh).
      BUN_JSC_forceRAMSize: process.env.BUN_JSC_forceRAMSize,
      ...o.env,
    },
    stdout: Bun.file(logPath),
    stderr: 'inherit',
  });
  const base = `http://127.0.0.1:${port}`;
  const server: Server = {
    proc,
    base,
    port,
    stop: async () => {
      running.delete(server);
      proc.kill('SIGTERM');
      await proc.exited;
    },
  };
  running.add(server);
  for (let i = 0; i < 600; i++) {
    if (proc.exitCode !== null) break;
    if (
      listeners(port) >= processes &&
      (await fetch(`${base}/readyz`).then(
        (r) => r.ok,
        () => false,
      ))
    )
      return server;
    await Bun.sleep(50);
  }
  await server.stop();
  throw new Error(`${script} from ${o.root ?? ROOT} did not answer /readyz on port ${port} (its log: ${logPath})`);
}

/** Sockets listening on 127.0.0.1:port (one per server process), from the kernel's table. */
export function listeners(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .filter((l) => {
      const cols = l.trim().split(/\s+/);
      return cols[1] === local && cols[3] === '0A';
    }).length;
}

/** Peak resident memory (VmHWM) of a process and its children, in MiB. */
export function peakRssMiB(pid: number): number {
  const pids = [pid, ...readChildren(pid)];
  return pids.reduce((sum, p) => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      return sum + (m ? Number(m[1]) / 1024 : 0);
    } catch {
      return sum;
    }
  }, 0);
}

function readChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

// ------------------------------------------------------------------ load

export type Measure = { rps: number; p50: number; p99: number; errors: number; requests: number; loaderCpu: number };

/** CPU microseconds per request: the server, PostgreSQL and the load generator (wrk or pgbench). */
export type CpuSplit = { server: number; postgres: number; loader: number };

export type Sample = Measure & { cpu: CpuSplit };

function parseDuration(text: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

export type LoadOptions = {
  /** Where bench/wrk and bench/sql are read from (default: this checkout). */
  root?: string;
  connections?: number;
  seconds?: number;
};

/** wrk with one thread against `base`, running bench/wrk/<script> of `root`. */
export async function runWrk(
  wrk: string,
  base: string,
  script: string,
  args: string[] = [],
  o: LoadOptions = {},
): Promise<Measure> {
  const r = await sh([
    wrk,
    '-t1',
    `-c${o.connections ?? CONNECTIONS}`,
    `-d${o.seconds ?? SECONDS}s`,
    '--latency',
    // A slow search is measured, not given up after wrk's default 2 s and counted as an error.
    '--timeout',
    '30s',
    '-s',
    join(o.root ?? ROOT, 'bench/wrk', script),
    base,
    '--',
    ...args,
  ]);
  const requests = Number(/(\d+) requests in/.exec(r.out)?.[1] ?? 0);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.out)?.[1]);
  const p50 = parseDuration(/\n\s+50%\s+(\S+)/.exec(r.out)?.[1] ?? '');
  const p99 = parseDuration(/\n\s+99%\s+(\S+)/.exec(r.out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(r.out)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.out);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  if (!rps) throw new Error(`wrk failed: ${r.out}${r.err}`);
  return { rps, p50, p99, errors, requests, loaderCpu: r.cpu };
}

/**
 * pgbench -M prepared with POOL clients for `seconds`, running bench/sql/<script> of `root`
 * with the service pool's session settings; latencies from a 20 % sample of its log.
 */
export async function runPgbench(
  pgbench: string,
  url: string,
  script: string,
  vars: Record<string, number> = {},
  o: LoadOptions = {},
): Promise<Measure> {
  const dir = mkdtempSync(join(tmpdir(), 'pgbench-'));
  const u = new URL(url);
  try {
    const r = await sh(
      [
        pgbench,
        '-n',
        '-M',
        'prepared',
        '-c',
        String(o.connections ?? POOL),
        '-j',
        '1',
        '-T',
        String(o.seconds ?? SECONDS),
        '-l',
        '--sampling-rate=0.2',
        '-f',
        join(o.root ?? ROOT, 'bench/sql', script),
        ...Object.entries(vars).flatMap(([k, v]) => ['-D', `${k}=${v}`]),
        '-h',
        u.hostname,
        '-p',
        u.port,
        '-U',
        decodeURIComponent(u.username),
        u.pathname.slice(1),
      ],
      {
        cwd: dir,
        // The same session settings as the service's pool (src/db.ts): plans made once per connection.
        env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password), PGOPTIONS: '-c plan_cache_mode=force_generic_plan' },
      },
    );
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(r.out)?.[1]);
    if (!tps) throw new Error(`pgbench failed: ${r.out}${r.err}`);
    const latencies = readdirSync(dir).flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => Number(l.split(' ')[2]) / 1000),
    );
    const failed = Number(/number of failed transactions: (\d+)/.exec(r.out)?.[1] ?? 0);
    const requests = Number(/number of transactions actually processed: (\d+)/.exec(r.out)?.[1] ?? 0);
    return {
      rps: tps,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      errors: failed,
      requests,
      loaderCpu: r.cpu,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs one measurement and charges it the CPU that the server (when given), PostgreSQL (the
 * postmaster `pgPid` and its children, those reaped included) and the load generator used.
 */
export async function measured(pgPid: number, serverPid: number | undefined, run: () => Promise<Measure>): Promise<Sample> {
  const s0 = serverPid ? processCpuSeconds(serverPid) : 0;
  const p0 = postgresCpuSeconds(pgPid);
  const children = new Set(postgresChildren(pgPid));
  const m = await run();
  // Backends of connections closed by the run (pgbench's) count once they are reaped.
  await waitForExit(postgresChildren(pgPid).filter((pid) => !children.has(pid)));
  const s1 = serverPid ? processCpuSeconds(serverPid) : 0;
  const p1 = postgresCpuSeconds(pgPid);
  const per = (seconds: number) => (m.requests ? (seconds * 1e6) / m.requests : NaN);
  return { ...m, cpu: { server: per(s1 - s0), postgres: per(p1 - p0), loader: per(m.loaderCpu) } };
}
