/**
 * Same-run A/B of git revisions of the service: the listing of one category (50 rows), a lookup
 * by id and a create, each revision as it was (its migrations, its service, its benchmark SQL).
 *
 *   bun bench/ab.ts [revision ...]      (default: 957f45a HEAD; `.` is this checkout as it is)
 *
 * Checks each revision out into a temporary worktree (sharing this checkout's node_modules),
 * starts one throwaway embedded PostgreSQL, and gives each revision a database of its own,
 * migrated by its own db/migrations and loaded with the same catalog (bench/catalog.ts), then
 * starts each revision's service (its src/server.ts) on a port of its own. In each round, for
 * each workload, every revision is measured in turn (the order reversed every other round): wrk
 * against its service (bench/wrk/*.lua of the revision), then pgbench running the revision's own
 * SQL (bench/sql/*.sql), each charged the CPU that PostgreSQL (and the service) used. Prints the
 * medians over the rounds and each revision's ratio to the first, and to the one before it, and
 * writes them with every sample to bench/out/ab-<time>.md and .json.
 *
 * BENCH_PRODUCTS (100000), BENCH_ROUNDS (3), BENCH_SECONDS (10), BENCH_CONNECTIONS (32), BENCH_PIN (shared, or
 * separate: PostgreSQL on core 0, services and load generators on core 1; bench/harness.ts);
 * AB_WORKLOADS (list,get,create; also get304 (a lookup answered 304), reserve and adjust (one unit
 * received at a second location),
 * each measured only where a revision has it);
 * AB_RESERVATIONS (0): that many products, spread over the catalog, get an open reservation
 * of one unit for a day before the statistics are taken, in the revisions that have stock_reserve.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBinary } from 'dbmate';
import postgres from 'postgres';
import { DEFAULT_DATABASE } from '../src/cli/database.ts';
import { withDatabase } from '../src/cli/database-url.ts';
import { freePort, startEmbeddedPostgres } from '../src/cli/embedded-postgres.ts';
import { ROOT } from '../src/cli/paths.ts';
import { provisionApiRole, provisionDatabase } from '../src/cli/provision.ts';
import { loadBenchCatalog } from './catalog.ts';
import {
  CONNECTIONS,
  ensurePgbench,
  ensureWrk,
  logger,
  measured,
  median,
  OUT,
  pinBenchmark,
  pinPostgres,
  placement,
  publishLoadedEvents,
  POOL,
  runPgbench,
  runWrk,
  type Sample,
  SECONDS,
  STATEMENT_COUNTERS,
  type Server,
  type Statements,
  startService,
  statementsOf,
  stopServices,
  untilPublished,
} from './harness.ts';
import { postmasterPid } from './profile.ts';

const PRODUCTS = Number(process.env.BENCH_PRODUCTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RESERVATIONS = Number(process.env.AB_RESERVATIONS ?? 0);
const CATEGORIES = 50;
const log = logger('ab');

type Workload = { key: string; name: string; wrk: string; sql: string; wrkArgs: (maxId: number, tag: string) => string[] };
const WORKLOADS: Workload[] = [
  { key: 'list', name: 'list by category, 50 rows', wrk: 'list-by-category.lua', sql: 'list-by-category.sql', wrkArgs: () => [] },
  { key: 'get', name: 'get by id', wrk: 'get-by-id.lua', sql: 'get-by-id.sql', wrkArgs: (maxId) => [String(maxId)] },
  {
    key: 'get304',
    name: 'get by id, If-None-Match: * (304)',
    wrk: 'get-by-id-304.lua',
    sql: 'get-by-id.sql',
    wrkArgs: (maxId) => [String(maxId)],
  },
  { key: 'create', name: 'create (with ledger row)', wrk: 'create.lua', sql: 'create.sql', wrkArgs: (_, tag) => [tag] },
  { key: 'reserve', name: 'reserve', wrk: 'reserve.lua', sql: 'reserve.sql', wrkArgs: (maxId) => [String(maxId)] },
  {
    key: 'adjust',
    name: 'adjust at a location',
    wrk: 'adjust-at-location.lua',
    sql: 'adjust-at-location.sql',
    wrkArgs: (maxId) => [String(maxId)],
  },
];
const chosen = (process.env.AB_WORKLOADS ?? 'list,get,create').split(',').map((k) => {
  const w = WORKLOADS.find((x) => x.key === k.trim());
  if (!w) throw new Error(`unknown workload ${k} in AB_WORKLOADS (${WORKLOADS.map((x) => x.key).join(', ')})`);
  return w;
});

const git = (...args: string[]) => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' }).trim();

type Revision = {
  /** As given on the command line. */
  name: string;
  commit: string;
  subject: string;
  root: string;
  worktree: boolean;
  database: string;
  ownerUrl?: string;
  apiUrl?: string;
  maxId?: number;
  server?: Server;
  /** A superuser's connection to its database, for pg_stat_statements. */
  stats?: postgres.Sql;
};

const tmp = mkdtempSync(join(tmpdir(), 'inventory-ab-'));
chmodSync(tmp, 0o755);
const revisions: Revision[] = (process.argv.length > 2 ? process.argv.slice(2) : ['957f45a', 'HEAD']).map((name, i) => {
  if (name === '.') {
    const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
    return {
      name,
      commit: `${git('rev-parse', '--short', 'HEAD')}${dirty ? '+changes' : ''}`,
      subject: 'this checkout',
      root: ROOT,
      worktree: false,
      database: `ab_${i}`,
    };
  }
  const commit = git('rev-parse', '--short', `${name}^{commit}`);
  return {
    name,
    commit,
    subject: git('log', '-1', '--format=%s', commit),
    root: join(tmp, `r${i}-${commit}`),
    worktree: true,
    database: `ab_${i}`,
  };
});
if (revisions.length < 2) throw new Error('name two revisions or more');

/** Removes the revisions' worktrees (with git's record of them); also when the run is interrupted. */
function removeWorktrees() {
  for (const r of revisions) {
    if (!r.worktree || !existsSync(r.root)) continue;
    try {
      git('worktree', 'remove', '--force', r.root);
    } catch {
      rmSync(r.root, { recursive: true, force: true });
    }
  }
}
process.on('exit', removeWorktrees);

/** The revision's dbmate on its own migrations. */
async function migrate(r: Revision) {
  const url = new URL(r.ownerUrl!);
  url.searchParams.set('sslmode', 'disable');
  const proc = Bun.spawn(
    [resolveBinary(), '--url', url.toString(), '--migrations-dir', join(r.root, 'db/migrations'), '--no-dump-schema', 'up'],
    { stdout: 'pipe', stderr: 'pipe' },
  );
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`dbmate up of ${r.name} failed: ${err || out}`);
}

/** The same catalog in every database: categories, then products with COPY and their initial movements. */
async function load(r: Revision) {
  const sql = postgres(r.ownerUrl!, { max: 1, onnotice: () => {} });
  try {
    await loadBenchCatalog(sql, PRODUCTS, CATEGORIES);
    // A second location (id 2, beside the default one) for the adjustment at a location, where there are locations.
    const [locations] = await sql<{ exists: boolean }[]>`SELECT to_regclass('locations') IS NOT NULL AS exists`;
    if (locations!.exists) await sql`INSERT INTO locations (code, name) VALUES ('BENCH-2', 'Second warehouse')`;
    const [reserve] = await sql<{ exists: boolean }[]>`SELECT to_regproc('stock_reserve') IS NOT NULL AS exists`;
    if (RESERVATIONS > 0 && reserve!.exists) {
      // Products with stock (the catalog's quantity (i * 31) % 500 is 0 only for multiples of 500), evenly spread.
      await sql`
        SELECT count(stock_reserve(p.id, default_location(), 1, now() + interval '1 day'))
        FROM products p
        WHERE p.quantity > 0 AND p.id % greatest(${Math.floor(PRODUCTS / RESERVATIONS)}::int, 1) = 0
        LIMIT ${RESERVATIONS}`;
    }
    await publishLoadedEvents(sql);
    await sql`VACUUM ANALYZE`;
    const [row] = await sql<{ max: number }[]>`SELECT max(id)::int AS max FROM products`;
    r.maxId = row!.max;
  } finally {
    await sql.end();
  }
}

const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : '-');

const wrk = await ensureWrk();
const pgbench = await ensurePgbench();
const pgDir = join(tmp, 'pg');
const started = new Date();
let pg: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
try {
  for (const r of revisions) {
    log(`${r.name}: ${r.commit} ${r.subject}`);
    if (!r.worktree) continue;
    git('worktree', 'add', '--detach', r.root, r.commit);
    symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(r.root, 'node_modules'));
  }
  log('starting a throwaway PostgreSQL');
  pinBenchmark();
  // pg_stat_statements counts each top-level statement a client sends: statements (round trips)
  // and execution time per request, the service's against pgbench's running the same SQL.
  pg = await startEmbeddedPostgres({
    dir: pgDir,
    port: await freePort(),
    persistent: false,
    settings: STATEMENT_COUNTERS,
  });
  const pgPid = postmasterPid(join(pgDir, 'pgdata'));
  pinPostgres(pgPid);
  for (const r of revisions) {
    const spec = { ...DEFAULT_DATABASE, database: r.database };
    r.ownerUrl = await provisionDatabase(pg.adminUrl, spec);
    await migrate(r);
    r.apiUrl = await provisionApiRole(pg.adminUrl, spec);
    r.stats = postgres(withDatabase(pg.adminUrl, r.database), { max: 1, onnotice: () => {} });
    await r.stats`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
    const t0 = performance.now();
    await load(r);
    log(`${r.name}: ${PRODUCTS} products loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  // The loads' dirty pages written now, not during the first measurements.
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  await admin`CHECKPOINT`;
  await admin.end();
  for (const r of revisions) r.server = await startService(r.apiUrl!, { root: r.root, label: `ab-${r.database}-${r.commit}` });

  /** The load average (1 minute) after each measurement: the machine may be shared. */
  const loads: number[] = [];
  type Result = { service: Sample[]; pgbench: Sample[]; statements: { service: Statements; pgbench: Statements }[] };
  const results = new Map<string, Result>(); // by workload key and revision index
  const resultOf = (w: Workload, i: number) => {
    const key = `${w.key}/${i}`;
    if (!results.has(key)) results.set(key, { service: [], pgbench: [], statements: [] });
    return results.get(key)!;
  };
  const has = (r: Revision, w: Workload) =>
    existsSync(join(r.root, 'bench/wrk', w.wrk)) && existsSync(join(r.root, 'bench/sql', w.sql));
  for (let round = 1; round <= ROUNDS; round++) {
    const order = revisions.map((_, i) => i);
    if (round % 2 === 0) order.reverse();
    for (const w of chosen) {
      for (const i of order) {
        const r = revisions[i]!;
        if (!has(r, w)) continue;
        const tag = `ab${round}x${i}x${Date.now().toString(36)}`;
        // A write's events are numbered by the revision's publisher after the load ends: each
        // measurement lasts until they are, so that it pays for its own and no other's.
        await r.stats!`SELECT pg_stat_statements_reset()`;
        const service = await measured(pgPid, r.server!.proc.pid, () =>
          untilPublished(r.stats!, runWrk(wrk, r.server!.base, w.wrk, w.wrkArgs(r.maxId!, tag), { root: r.root })),
        );
        const serviceStatements = await statementsOf(r.stats!, service.requests);
        await r.stats!`SELECT pg_stat_statements_reset()`;
        const direct = await measured(pgPid, undefined, () =>
          untilPublished(
            r.stats!,
            runPgbench(pgbench, r.apiUrl!, w.sql, w.key === 'list' || w.key === 'create' ? {} : { max_id: r.maxId! }, {
              root: r.root,
            }),
          ),
        );
        const directStatements = await statementsOf(r.stats!, direct.requests);
        loads.push(Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]));
        resultOf(w, i).service.push(service);
        resultOf(w, i).pgbench.push(direct);
        resultOf(w, i).statements.push({ service: serviceStatements, pgbench: directStatements });
        log(
          `round ${round} ${w.name}, ${r.name}: service ${fmt(service.rps)} req/s, PostgreSQL ${fmt(service.cpu.postgres)} µs/request; ` +
            `pgbench ${fmt(direct.rps)} tps, PostgreSQL ${fmt(direct.cpu.postgres)} µs/transaction` +
            (service.errors + direct.errors ? `; errors ${service.errors} + ${direct.errors}` : ''),
        );
      }
    }
  }

  // ------------------------------------------------------------------ report
  const med = (xs: Sample[], f: (s: Sample) => number) => median(xs.map(f));
  type Figures = Record<'rps' | 'p50' | 'p99' | 'pgCpu' | 'serverCpu' | 'tps' | 'pgbP50' | 'pgbP99' | 'pgbCpu', number>;
  const figures = (r: Result): Figures => ({
    rps: med(r.service, (s) => s.rps),
    p50: med(r.service, (s) => s.p50),
    p99: med(r.service, (s) => s.p99),
    pgCpu: med(r.service, (s) => s.cpu.postgres),
    serverCpu: med(r.service, (s) => s.cpu.server),
    tps: med(r.pgbench, (s) => s.rps),
    pgbP50: med(r.pgbench, (s) => s.p50),
    pgbP99: med(r.pgbench, (s) => s.p99),
    pgbCpu: med(r.pgbench, (s) => s.cpu.postgres),
  });
  const report: string[] = [
    '# A/B of revisions, one run',
    '',
    `Run ${started.toISOString()} by \`bun bench/ab.ts ${process.argv.slice(2).join(' ')}\` on ${cpus().length} cores ` +
      `(${cpus()[0]?.model ?? 'unknown cpu'}), Bun ${Bun.version}; ${placement()}. ` +
      `${PRODUCTS.toLocaleString('en')} products in ${CATEGORIES} categories, the same catalog in each revision's database` +
      (RESERVATIONS ? `, ${RESERVATIONS} of them with an open reservation (where the revision has reservations)` : '') +
      `. wrk: 1 thread, ${CONNECTIONS} connections; pgbench -M prepared, ${POOL} clients, the revision's own bench/sql; ` +
      `${SECONDS} s per measurement, ${ROUNDS} rounds, revisions in turn (reversed every other round); medians over the rounds. ` +
      'CPU: microseconds per request (or pgbench transaction) from /proc, PostgreSQL with its exited backends. ' +
      `Load average (1 min) after the measurements: min ${fmt(Math.min(...loads), 1)}, median ${fmt(median(loads), 1)}, max ${fmt(Math.max(...loads), 1)}.`,
    '',
    ...revisions.map((r, i) => `- ${String.fromCharCode(65 + i)}: \`${r.name}\` = ${r.commit} (${r.subject})`),
    '',
    '| workload | revision | service req/s | p50 / p99 ms | PostgreSQL µs/request | service µs/request | pgbench tps | pgbench p50 / p99 ms | PostgreSQL µs/transaction |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const table = new Map<string, Figures>();
  for (const w of chosen) {
    revisions.forEach((r, i) => {
      const res = results.get(`${w.key}/${i}`);
      if (!res) return;
      const f = figures(res);
      table.set(`${w.key}/${i}`, f);
      report.push(
        `| ${w.name} | ${String.fromCharCode(65 + i)} \`${r.name}\` | ${fmt(f.rps)} | ${fmt(f.p50, 2)} / ${fmt(f.p99, 2)} | ${fmt(f.pgCpu)} | ` +
          `${fmt(f.serverCpu)} | ${fmt(f.tps)} | ${fmt(f.pgbP50, 2)} / ${fmt(f.pgbP99, 2)} | ${fmt(f.pgbCpu)} |`,
      );
    });
  }
  const pairs: [number, number][] = revisions.slice(1).map((_, j) => [j + 1, 0]);
  if (revisions.length > 2) pairs.push(...revisions.slice(2).map((_, j): [number, number] => [j + 2, j + 1]));
  report.push(
    '',
    'Ratios of the medians (later / earlier; for req/s and tps above 1 is faster, for latency and CPU above 1 is costlier):',
    '',
    '| workload | ratio | service req/s | p50 | p99 | PostgreSQL µs/request | pgbench tps | PostgreSQL µs/transaction |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  );
  for (const w of chosen) {
    for (const [a, b] of pairs) {
      const fa = table.get(`${w.key}/${a}`);
      const fb = table.get(`${w.key}/${b}`);
      if (!fa || !fb) continue;
      const q = (k: keyof Figures) => fmt(fa[k] / fb[k], 2);
      report.push(
        `| ${w.name} | ${String.fromCharCode(65 + a)} / ${String.fromCharCode(65 + b)} | ${q('rps')} | ${q('p50')} | ${q('p99')} | ${q('pgCpu')} | ${q('tps')} | ${q('pgbCpu')} |`,
      );
    }
  }
  report.push(
    '',
    "PostgreSQL's own counters (pg_stat_statements, top-level statements: each a round trip), medians over the rounds, per " +
      'request under the service and per transaction under pgbench running the same SQL; below each, the statements the ' +
      'service sent at least once per 20 requests (the last round):',
    '',
    '| workload | revision | service statements/request | service execution µs/request | pgbench statements/transaction | pgbench execution µs/transaction |',
    '|---|---|---:|---:|---:|---:|',
  );
  for (const w of chosen) {
    revisions.forEach((r, i) => {
      const res = results.get(`${w.key}/${i}`);
      if (!res?.statements.length) return;
      const m = (f: (x: { service: Statements; pgbench: Statements }) => number) => median(res.statements.map(f));
      report.push(
        `| ${w.name} | ${String.fromCharCode(65 + i)} \`${r.name}\` | ${fmt(
          m((x) => x.service.perRequest),
          2,
        )} | ` +
          `${fmt(m((x) => x.service.execUs))} | ${fmt(
            m((x) => x.pgbench.perRequest),
            2,
          )} | ${fmt(m((x) => x.pgbench.execUs))} |`,
      );
    });
  }
  for (const w of chosen) {
    revisions.forEach((_, i) => {
      const last = results.get(`${w.key}/${i}`)?.statements.at(-1);
      if (!last) return;
      report.push(
        '',
        `- ${w.name}, ${String.fromCharCode(65 + i)}: ` +
          last.service.top.map((q) => `${fmt(q.perRequest, 2)} × \`${q.query}\` (${fmt(q.execUs)} µs)`).join('; '),
      );
    });
  }
  report.push('', 'Per round (service req/s; PostgreSQL µs/request under wrk; pgbench tps; PostgreSQL µs/transaction):', '');
  for (const w of chosen) {
    revisions.forEach((_, i) => {
      const res = results.get(`${w.key}/${i}`);
      if (!res) return;
      report.push(
        `- ${w.name}, ${String.fromCharCode(65 + i)}: ` +
          res.service
            .map(
              (s, n) =>
                `${fmt(s.rps)}; ${fmt(s.cpu.postgres)}; ${fmt(res.pgbench[n]!.rps)}; ${fmt(res.pgbench[n]!.cpu.postgres)}`,
            )
            .join(' | '),
      );
    });
  }
  const text = report.join('\n');
  process.stdout.write(`\n${text}\n`);
  const file = join(OUT, `ab-${started.toISOString().replace(/[:.]/g, '-')}`);
  writeFileSync(`${file}.md`, `${text}\n`);
  writeFileSync(
    `${file}.json`,
    JSON.stringify(
      {
        started,
        products: PRODUCTS,
        rounds: ROUNDS,
        seconds: SECONDS,
        reservations: RESERVATIONS,
        loads,
        revisions: revisions.map((r) => ({ name: r.name, commit: r.commit, subject: r.subject })),
        samples: Object.fromEntries(results),
      },
      null,
      1,
    ),
  );
  log(`wrote ${file}.md and .json`);
} finally {
  // Whatever failed: no service, PostgreSQL or worktree outlives the run.
  await stopServices();
  await Promise.all(revisions.map((r) => r.stats?.end({ timeout: 1 })));
  await pg?.stop();
  removeWorktrees();
  rmSync(tmp, { recursive: true, force: true });
}
