/**
 * `./run.sh bench` (or `bun run bench`): the performance benchmark. Reports, asserts nothing.
 *
 * Starts a throwaway embedded PostgreSQL, loads 1,000,000 products in 50 categories with COPY
 * (names, descriptions and SKUs from a vocabulary: bench/catalog.ts), starts the service as its own
 * process, and interleaves, for several rounds, the service under wrk, the bare reference server
 * (bench/reference-server.ts) and pgbench running the service's own SQL (the ceiling): the listing,
 * a lookup, a create, and searches (a SKU prefix, a SKU infix, two words). Then page depth, bulk import vs
 * raw COPY, 1 vs 2 server processes and start-up time. Writes bench/RESULTS.md (bench/RESULTS-separate.md
 * with BENCH_PIN=separate: PostgreSQL on one core, the rest on the other; bench/harness.ts).
 *
 * BENCH_PRODUCTS (default 1000000), BENCH_ROUNDS (3), BENCH_SECONDS (10), BENCH_CONNECTIONS (32), BENCH_PIN (shared).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { withDatabase } from '../src/cli/database-url.ts';
import { dbmate } from '../src/cli/dbmate.ts';
import { loadBenchCatalog } from './catalog.ts';
import { ROOT } from '../src/cli/paths.ts';
import { provisionApiRole, provisionDatabase } from '../src/cli/provision.ts';
import { freePort, startEmbeddedPostgres } from '../src/cli/embedded-postgres.ts';
import {
  CONNECTIONS,
  ensurePgbench,
  ensureWrk,
  logger,
  type Measure,
  measured,
  median,
  OUT,
  PIN,
  peakRssMiB,
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
  type Statements,
  startService,
  statementsOf,
  stopServices,
  untilPublished,
} from './harness.ts';
import { postmasterPid, readProfile, summarizeProfile, type ProfileSummary } from './profile.ts';

const PRODUCTS = Number(process.env.BENCH_PRODUCTS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CATEGORIES = 50;
const log = logger('bench');
/** The reports this run writes: each placement of processes (BENCH_PIN) has its own. */
const [RESULTS, PROFILE] = PIN === 'separate' ? ['RESULTS-separate', 'PROFILE-separate'] : ['RESULTS', 'PROFILE'];
/** The cursors the page depth test follows: 2,000, or as many as the catalog's pages of 50 allow. */
const DEPTH = Math.max(0, Math.min(2000, Math.ceil(PRODUCTS / 50) - 1));

// ------------------------------------------------------------------ data

async function loadCatalog(ownerUrl: string) {
  const sql = postgres(ownerUrl, { max: 1, onnotice: () => {} });
  const started = performance.now();
  // A second location (id 2, beside the default one) for the adjustments by location.
  await sql`INSERT INTO locations (code, name) VALUES ('BENCH-2', 'Second warehouse')`;
  // Products and their initial movements in one transaction: the ledger is checked at commit.
  await loadBenchCatalog(sql, PRODUCTS, CATEGORIES);
  const seconds = (performance.now() - started) / 1000;
  log(`published the load's ${await publishLoadedEvents(sql)} events`);
  await sql`VACUUM ANALYZE`;
  const [row] = await sql<{ max: number }[]>`SELECT max(id)::int AS max FROM products`;
  await sql.end();
  return { seconds, maxId: row!.max };
}

/** The terms a search workload picks from: the strings of its wrk script's list (`local xs = { ... }`). */
function luaTerms(script: string): string[] {
  const text = readFileSync(join(ROOT, 'bench/wrk', script), 'utf8');
  const list = /local \w+ = \{([^}]*)\}/.exec(text)?.[1] ?? '';
  return [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
}

/** The strings of the first ARRAY[...] of a pgbench script: the list it picks from with :k. */
function sqlTerms(script: string): string[] {
  const text = readFileSync(join(ROOT, 'bench/sql', script), 'utf8');
  const list = /ARRAY\[([^\]]*)\]/.exec(text)?.[1] ?? '';
  return [...list.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
}

type Search = { name: string; wrk: string; sql: string; kind: 'prefix' | 'text' };

/**
 * How many active products each term of a search workload matches: min, median and max over its
 * list. Checks first that the pgbench script picks from the same list as the wrk script (the
 * prefix listing's in lower case, as the service binds it).
 */
async function searchMatches(ownerUrl: string, searches: Search[]) {
  const sql = postgres(ownerUrl, { max: 1, onnotice: () => {} });
  const out = new Map<string, { terms: number; min: number; median: number; max: number; total: number; most: string }>();
  try {
    for (const s of searches) {
      const terms = luaTerms(s.wrk);
      const expected = s.kind === 'prefix' ? terms.map((t) => t.toLowerCase()) : terms;
      if (terms.length === 0 || sqlTerms(s.sql).join('\n') !== expected.join('\n'))
        throw new Error(`bench/sql/${s.sql} does not pick from the list of bench/wrk/${s.wrk}`);
      const counts: number[] = [];
      for (const term of terms) {
        if (s.kind === 'prefix') {
          const from = term.toLowerCase();
          const to = from.slice(0, -1) + String.fromCharCode(from.charCodeAt(from.length - 1) + 1);
          const [row] = await sql<{ n: number }[]>`
            SELECT count(*)::int AS n FROM products p
            WHERE lower(p.sku) COLLATE "C" >= ${from} AND lower(p.sku) COLLATE "C" < ${to} AND p.archived_at IS NULL`;
          counts.push(row!.n);
        } else {
          // The search's condition (src/products/queries.ts searchProducts), its query made once.
          const sku = /^[A-Za-z0-9._-]+$/.test(term) ? term.toLowerCase() : null;
          const [row] = await sql<{ n: number }[]>`
            WITH query AS MATERIALIZED (SELECT product_search_query(${term}) AS q)
            SELECT count(*)::int AS n FROM products p, query
            WHERE p.archived_at IS NULL
              AND (lower(p.sku) LIKE ${sku === null ? null : `%${sku}%`} OR product_search_vector(p.name, p.description) @@ query.q)`;
          counts.push(row!.n);
        }
      }
      const sorted = [...counts].sort((a, b) => a - b);
      out.set(s.name, {
        terms: counts.length,
        min: sorted[0]!,
        median: median(counts),
        max: sorted[sorted.length - 1]!,
        total: counts.reduce((a, b) => a + b, 0),
        most: terms[counts.indexOf(sorted[sorted.length - 1]!)]!,
      });
    }
    const [lengths] = await sql<{ name: number; description: number }[]>`
      SELECT avg(char_length(name))::float8 AS name, avg(char_length(description))::float8 AS description FROM products`;
    // The catalog before bench/catalog.ts, at the same scale: "Product <i in base 36> <i>", "Benchmark product number <i>".
    let oldName = 0;
    let oldDescription = 0;
    for (let i = 1; i <= PRODUCTS; i++) {
      oldName += `Product ${i.toString(36)} ${i}`.length;
      oldDescription += `Benchmark product number ${i}`.length;
    }
    return { matches: out, lengths: lengths!, oldLengths: { name: oldName / PRODUCTS, description: oldDescription / PRODUCTS } };
  } finally {
    await sql.end();
  }
}

// ------------------------------------------------------------------ depth

/** Median latency of `first` and of `deep`, fetched alternately so that drift on the machine hits both alike. */
async function timeAlternately(first: string, deep: string, times: number): Promise<[number, number]> {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < times; i++) {
    for (const [url, into] of [
      [first, a],
      [deep, b],
    ] as const) {
      const t0 = performance.now();
      const r = await fetch(url);
      await r.arrayBuffer();
      into.push(performance.now() - t0);
    }
  }
  return [median(a), median(b)];
}

async function pageDepth(base: string, sort: string, pages: number) {
  const first = `${base}/products?sort=${sort}&limit=50`;
  let url = first;
  for (let i = 0; i < pages; i++) {
    const r = await fetch(url);
    await r.arrayBuffer();
    const next = /<([^>]+)>;\s*rel="next"/.exec(r.headers.get('link') ?? '')?.[1];
    if (!next) throw new Error(`listing ${sort} ended after ${i} pages`);
    url = `${base}${next}`;
  }
  const [firstMs, deepMs] = await timeAlternately(first, url, 301);
  return { sort, firstMs, deepMs, ratio: deepMs / firstMs };
}

// ------------------------------------------------------------------ start-up

async function startupTimes() {
  const dataDir = mkdtempSync(join(tmpdir(), 'inventory-startup-'));
  chmodSync(dataDir, 0o755);
  const pgPort = await freePort();
  const once = async () => {
    const port = await freePort();
    const t0 = performance.now();
    const proc = Bun.spawn(['./run.sh'], {
      cwd: ROOT,
      env: {
        ...process.env,
        INVENTORY_DATA_DIR: dataDir,
        PGPORT: String(pgPort),
        PORT: String(port),
        LOG_LEVEL: 'warn',
        INVENTORY_NO_DOCKER: '1',
      },
      stdout: 'ignore',
      stderr: 'ignore',
    });
    try {
      while (performance.now() - t0 < 60_000) {
        if (
          await fetch(`http://127.0.0.1:${port}/readyz`).then(
            (r) => r.ok,
            () => false,
          )
        )
          return performance.now() - t0;
        await Bun.sleep(20);
      }
      return NaN;
    } finally {
      // ./run.sh stops its PostgreSQL on SIGINT.
      proc.kill('SIGINT');
      await proc.exited;
    }
  };
  try {
    const cold = await once();
    const warm = [await once(), await once(), await once()];
    return { coldMs: cold, warmMs: median(warm) };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ main

const wrk = await ensureWrk();
const pgbench = await ensurePgbench();
const dir = mkdtempSync(join(tmpdir(), 'inventory-bench-pg-'));
chmodSync(dir, 0o755);
log('starting a throwaway PostgreSQL');
pinBenchmark();
// pg_stat_statements counts the statements (round trips) each request sends, under the service,
// the bare stack and pgbench alike.
const pg = await startEmbeddedPostgres({ dir, port: await freePort(), persistent: false, settings: STATEMENT_COUNTERS });
pinPostgres(postmasterPid(join(dir, 'pgdata')));
const report: string[] = [];
/** The superuser's connection that reads pg_stat_statements, closed whatever happens. */
let statsConnection: postgres.Sql | undefined;
try {
  const ownerUrl = await provisionDatabase(pg.adminUrl);
  const apiUrl = await provisionApiRole(pg.adminUrl);
  await dbmate(ownerUrl, ['up'], true);
  log(`loading ${PRODUCTS} products in ${CATEGORIES} categories with COPY`);
  const load = await loadCatalog(ownerUrl);
  // The load's dirty pages written now, not during the first measurements.
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  await admin`CHECKPOINT`;
  await admin.end();
  log(`loaded in ${load.seconds.toFixed(1)} s`);
  const searches: Search[] = [
    { name: 'search: SKU prefix', wrk: 'search-sku-prefix.lua', sql: 'search-sku-prefix.sql', kind: 'prefix' },
    { name: 'search: SKU infix', wrk: 'search-sku-infix.lua', sql: 'search-sku-infix.sql', kind: 'text' },
    { name: 'search: two words', wrk: 'search-two-words.lua', sql: 'search-two-words.sql', kind: 'text' },
  ];
  const catalog = await searchMatches(ownerUrl, searches);
  for (const [name, m] of catalog.matches)
    log(`${name}: ${m.min} / ${m.median} / ${m.max} rows matched (min / median / max; most: ${m.most})`);

  const scenarios: { name: string; wrk: string; wrkArgs: string[]; sql: string; vars: Record<string, number> }[] = [
    { name: 'list by category, 50 rows', wrk: 'list-by-category.lua', wrkArgs: [], sql: 'list-by-category.sql', vars: {} },
    {
      name: 'get by id',
      wrk: 'get-by-id.lua',
      wrkArgs: [String(load.maxId)],
      sql: 'get-by-id.sql',
      vars: { max_id: load.maxId },
    },
    { name: 'create (with ledger row)', wrk: 'create.lua', wrkArgs: [], sql: 'create.sql', vars: {} },
    ...searches.map((s) => ({ name: s.name, wrk: s.wrk, wrkArgs: [], sql: s.sql, vars: {} })),
    {
      name: 'adjust at a location',
      wrk: 'adjust-at-location.lua',
      wrkArgs: [String(load.maxId)],
      sql: 'adjust-at-location.sql',
      vars: { max_id: load.maxId },
    },
    { name: 'reserve', wrk: 'reserve.lua', wrkArgs: [String(load.maxId)], sql: 'reserve.sql', vars: { max_id: load.maxId } },
  ];
  const pgPid = postmasterPid(join(dir, 'pgdata'));
  const stats = postgres(withDatabase(pg.adminUrl, new URL(ownerUrl).pathname.slice(1)), { max: 1, onnotice: () => {} });
  statsConnection = stats;
  await stats`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
  type Counted = { service: Statements; reference: Statements; ceiling: Statements };
  const results = new Map<
    string,
    { service: Sample[]; reference: Sample[]; ceiling: Sample[]; sameConcurrency: Measure[]; statements: Counted[] }
  >();
  /** A measurement that lasts until the events its writes made are published, and what PostgreSQL counted in it. */
  const counted = async (serverPid: number | undefined, run: () => Promise<Measure>): Promise<[Sample, Statements]> => {
    await stats`SELECT pg_stat_statements_reset()`;
    const sample = await measured(pgPid, serverPid, () => untilPublished(stats, run()));
    return [sample, await statementsOf(stats, sample.requests)];
  };
  let server = await startService(apiUrl);
  const reference = await startService(apiUrl, { script: 'bench/reference-server.ts' });
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of scenarios) {
      const r = results.get(s.name) ?? { service: [], reference: [], ceiling: [], sameConcurrency: [], statements: [] };
      const tag = (who: string) => (s.wrk === 'create.lua' ? [`${who}${round}x${Date.now().toString(36)}`] : s.wrkArgs);
      const [service, serviceStatements] = await counted(server.proc.pid, () => runWrk(wrk, server.base, s.wrk, tag('r')));
      const [bare, bareStatements] = await counted(reference.proc.pid, () => runWrk(wrk, reference.base, s.wrk, tag('b')));
      const [ceiling, ceilingStatements] = await counted(undefined, () => runPgbench(pgbench, apiUrl, s.sql, s.vars));
      r.statements.push({ service: serviceStatements, reference: bareStatements, ceiling: ceilingStatements });
      // Latency at pgbench's own concurrency (one connection per pgbench client, as many as the pool).
      const same = await runWrk(wrk, server.base, s.wrk, tag('c'), { connections: POOL });
      r.sameConcurrency.push(same);
      r.service.push(service);
      r.reference.push(bare);
      r.ceiling.push(ceiling);
      results.set(s.name, r);
      log(
        `round ${round} ${s.name}: service ${service.rps.toFixed(0)} req/s, bare stack ${bare.rps.toFixed(0)} req/s, pgbench ${ceiling.rps.toFixed(0)} tps`,
      );
    }
  }
  const rss = peakRssMiB(server.proc.pid);
  const referenceRss = peakRssMiB(reference.proc.pid);
  await reference.stop();
  log(DEPTH > 0 ? `page depth (${DEPTH} cursors)` : 'page depth: skipped, the catalog has one page');
  const depth = [];
  for (const sort of DEPTH > 0 ? ['name', '-name', 'price', '-price', 'created_at', '-created_at'] : []) {
    depth.push(await pageDepth(server.base, sort, DEPTH));
  }
  await server.stop();

  log('CPU profiles of the service');
  const profiles: { name: string; summary: ProfileSummary }[] = [];
  for (const s of scenarios) {
    const profileDir = join(OUT, `profile-${s.wrk.replace(/\.lua$/, '')}`);
    rmSync(profileDir, { recursive: true, force: true });
    const profiled = await startService(apiUrl, { bunFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] });
    await runWrk(wrk, profiled.base, s.wrk, s.wrk === 'create.lua' ? [`p${Date.now().toString(36)}`] : s.wrkArgs);
    await profiled.stop();
    profiles.push({ name: s.name, summary: summarizeProfile(readProfile(profileDir)) });
  }

  log('1 vs 2 server processes');
  const scale: { processes: number; rps: number[] }[] = [
    { processes: 1, rps: [] },
    { processes: 2, rps: [] },
  ];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of scale) {
      server = await startService(apiUrl, { processes: s.processes });
      s.rps.push((await runWrk(wrk, server.base, 'list-by-category.lua')).rps);
      await server.stop();
    }
  }

  let importLine = '| bulk import | not measured: the import command is not available |';
  try {
    log('bulk import vs raw COPY');
    const { benchImport } = await import('./import.ts');
    importLine = await benchImport(pg.adminUrl, PRODUCTS, OUT);
  } catch (error) {
    importLine = `| bulk import | not measured: ${error instanceof Error ? error.message : String(error)} |`;
  }

  log('start-up time');
  const startup = await startupTimes();

  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  report.push(
    '# Benchmark results',
    '',
    `Run ${new Date().toISOString()} by \`./run.sh bench\` on ${cpus().length} cores (${cpu}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Bun ${Bun.version}; ` +
      `${placement()}.`,
    `${PRODUCTS.toLocaleString('en')} products in ${CATEGORIES} categories (loaded with COPY in ${load.seconds.toFixed(1)} s). ` +
      `wrk: 1 thread, ${CONNECTIONS} connections, ${SECONDS} s per measurement; service pool ${POOL}, one process, info logging on. ` +
      `pgbench -M prepared with ${POOL} clients running the service's own SQL (bench/sql). ${ROUNDS} interleaved rounds; medians.`,
    '',
    `Names and descriptions are built from a vocabulary (bench/catalog.ts: 60 adjectives and materials, 180 nouns, 12 colours, ` +
      `some accented): "Wireless Mouse M1234", "Crème bamboo finish, item 1234", SKU "MOU-WI-0001234"; on average ` +
      `${catalog.lengths.name.toFixed(1)} and ${catalog.lengths.description.toFixed(1)} characters (the catalog before search, ` +
      `"Product <base 36> <i>" and "Benchmark product number <i>", had ${catalog.oldLengths.name.toFixed(1)} and ` +
      `${catalog.oldLengths.description.toFixed(1)}). The search workloads pick at random from 40 terms each (bench/wrk/search-*.lua, the same lists in ` +
      `bench/sql/search-*.sql), first page of 20 (21 rows fetched); active products each term matches, min / median / max over its list:`,
    '',
    '| query | example | terms | rows matched: min / median / max | all terms |',
    '|---|---|---:|---:|---:|',
    ...searches.map((s) => {
      const m = catalog.matches.get(s.name)!;
      return `| ${s.name} | \`${luaTerms(s.wrk)[0]}\` | ${m.terms} | ${m.min} / ${m.median} / ${m.max} (\`${m.most}\`) | ${m.total} |`;
    }),
    '',
    "pgbench runs the searches' statement as the service sends it, after a one-row `SELECT ... \\gset` that picks the term " +
      '(so each pgbench transaction is two statements); for two words, where the service binds NULL to the SKU parameters, ' +
      "pgbench binds '' through NULLIF (it cannot bind NULL). The SKU prefix script picks its two bounds from lists in the " +
      'statement instead (see the comments in bench/sql/search-*.sql). In each round the searches run after the creates; ' +
      'the search GIN indexes have fastupdate off, so every create updates them itself and no search reads a pending list.',
    '',
    'The bare stack is bench/reference-server.ts: Bun + Hono + postgres.js answering the same requests with the same SQL, ' +
      'without validation, middleware, log lines or metrics — what the stack costs before the service adds anything. ' +
      "Errors are the service's non-2xx responses and wrk's socket errors over the rounds: a statement that runs past the " +
      "service's statement timeout (5 s) is cancelled and answered 503, sooner and cheaper than a result, so a row with " +
      'errors overstates its req/s and understates its CPU per request.',
    '',
    '| query | service req/s | bare stack req/s | pgbench tps | service / pgbench | bare / pgbench | service p50 / p99 ms | pgbench p50 / p99 ms | p99 ratio | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  const med = (xs: Sample[], f: (m: Sample) => number) => median(xs.map(f));
  for (const [name, r] of results) {
    const s = { rps: med(r.service, (m) => m.rps), p50: med(r.service, (m) => m.p50), p99: med(r.service, (m) => m.p99) };
    const b = med(r.reference, (m) => m.rps);
    const c = { rps: med(r.ceiling, (m) => m.rps), p50: med(r.ceiling, (m) => m.p50), p99: med(r.ceiling, (m) => m.p99) };
    const errors = r.service.reduce((a, m) => a + m.errors, 0);
    report.push(
      `| ${name} | ${s.rps.toFixed(0)} | ${b.toFixed(0)} | ${c.rps.toFixed(0)} | ${((s.rps / c.rps) * 100).toFixed(0)} % | ${((b / c.rps) * 100).toFixed(0)} % | ${s.p50.toFixed(2)} / ${s.p99.toFixed(2)} | ${c.p50.toFixed(2)} / ${c.p99.toFixed(2)} | ${(s.p99 / c.p99).toFixed(1)}x | ${errors} |`,
    );
  }
  report.push(
    '',
    `At ${CONNECTIONS} connections against pgbench's ${POOL} clients, latency includes queueing for the pool: at saturation the mean ` +
      "latency is connections / throughput (Little's law). The same service driven with as many connections as pgbench has clients:",
    '',
    `| query | service req/s at ${POOL} connections | p50 / p99 ms | pgbench p50 / p99 ms | p99 ratio |`,
    '|---|---:|---:|---:|---:|',
  );
  for (const [name, r] of results) {
    const m = {
      rps: median(r.sameConcurrency.map((x) => x.rps)),
      p50: median(r.sameConcurrency.map((x) => x.p50)),
      p99: median(r.sameConcurrency.map((x) => x.p99)),
    };
    const c = { p50: med(r.ceiling, (x) => x.p50), p99: med(r.ceiling, (x) => x.p99) };
    report.push(
      `| ${name} | ${m.rps.toFixed(0)} | ${m.p50.toFixed(2)} / ${m.p99.toFixed(2)} | ${c.p50.toFixed(2)} / ${c.p99.toFixed(2)} | ${(m.p99 / c.p99).toFixed(1)}x |`,
    );
  }
  report.push('', 'Per round (service req/s, bare stack req/s, pgbench tps):', '');
  for (const [name, r] of results) {
    report.push(
      `- ${name}: ${r.service.map((m, i) => `${m.rps.toFixed(0)}, ${r.reference[i]!.rps.toFixed(0)}, ${r.ceiling[i]!.rps.toFixed(0)}`).join('; ')}`,
    );
  }
  report.push(
    '',
    '## Where the CPU goes (medians, CPU microseconds per request from /proc; PostgreSQL includes its exited backends)',
    '',
    "The three programs share the machine's cores, so when they are all busy, throughput is at most " +
      `${cpus().length} cores / (CPU per request). "Bound" is the ratio to pgbench that this alone allows: pgbench's CPU per ` +
      'transaction (PostgreSQL + pgbench) over the service\'s (server + PostgreSQL + wrk). "One thread" is the most one server ' +
      'process could answer if all of its CPU were its JavaScript thread.',
    '',
    '| query | service: server / PostgreSQL / wrk | bare stack: server / PostgreSQL / wrk | pgbench: PostgreSQL / pgbench | bound | one thread |',
    '|---|---:|---:|---:|---:|---:|',
  );
  for (const [name, r] of results) {
    const split = (xs: Sample[]) => ({
      server: med(xs, (m) => m.cpu.server),
      postgres: med(xs, (m) => m.cpu.postgres),
      loader: med(xs, (m) => m.cpu.loader),
    });
    const sv = split(r.service);
    const bs = split(r.reference);
    const pb = split(r.ceiling);
    const bound = (pb.postgres + pb.loader) / (sv.server + sv.postgres + sv.loader);
    report.push(
      `| ${name} | ${sv.server.toFixed(0)} / ${sv.postgres.toFixed(0)} / ${sv.loader.toFixed(0)} | ` +
        `${bs.server.toFixed(0)} / ${bs.postgres.toFixed(0)} / ${bs.loader.toFixed(0)} | ${pb.postgres.toFixed(0)} / ${pb.loader.toFixed(0)} | ` +
        `${(bound * 100).toFixed(0)} % | ${(1e6 / sv.server).toFixed(0)} req/s |`,
    );
  }
  report.push(
    '',
    'What the service adds to the bare stack answering the same requests with the same SQL: CPU per request, service / bare ' +
      "stack (medians; targets: PostgreSQL's at most 1.05, the server's at most 1.10). PostgreSQL's own counters " +
      '(pg_stat_statements, top-level statements, each a round trip; medians over the rounds) show what each sends: statements ' +
      'and their execution time per request, and per pgbench transaction running the same SQL. A measurement of a write lasts ' +
      'until the events it made are published, so each pays for its own.',
    '',
    '| query | PostgreSQL CPU: service / bare | server CPU: service / bare | statements per request: service / bare / pgbench | execution µs per request: service / bare / pgbench |',
    '|---|---:|---:|---:|---:|',
  );
  for (const [name, r] of results) {
    const ratio = (f: (m: Sample) => number) => med(r.service, f) / med(r.reference, f);
    const st = (f: (c: Counted) => Statements, g: (s: Statements) => number) => median(r.statements.map((c) => g(f(c))));
    const both = (g: (s: Statements) => number, digits: number) =>
      [(c: Counted) => c.service, (c: Counted) => c.reference, (c: Counted) => c.ceiling]
        .map((f) => st(f, g).toFixed(digits))
        .join(' / ');
    report.push(
      `| ${name} | ${ratio((m) => m.cpu.postgres).toFixed(2)} | ${ratio((m) => m.cpu.server).toFixed(2)} | ` +
        `${both((s) => s.perRequest, 2)} | ${both((s) => s.execUs, 0)} |`,
    );
  }
  report.push('', 'The statements the service sent at least once per 20 requests (the last round), per request:', '');
  for (const [name, r] of results) {
    const last = r.statements.at(-1)?.service;
    if (!last) continue;
    report.push(
      `- ${name}: ${last.top.map((q) => `${q.perRequest.toFixed(2)} × \`${q.query.replaceAll('`', "'")}\` (${q.execUs.toFixed(0)} µs)`).join('; ')}`,
    );
  }
  report.push(
    '',
    `Profiles of the service under each load (\`bun --cpu-prof\`, self time by package and the hottest functions): [${PROFILE}.md](${PROFILE}.md).`,
    '',
    `Peak RSS during the load: the service ${rss.toFixed(0)} MiB (BUN_JSC_forceRAMSize=${process.env.BUN_JSC_forceRAMSize ?? 'unset'}, as ./run.sh starts it); the bare stack ${referenceRss.toFixed(0)} MiB.`,
    '',
    `## Page depth (following ${DEPTH.toLocaleString('en')} cursors, 50 rows a page, unfiltered; 301 fetches of each, alternating)`,
    '',
    `| sort | first page median ms | page ${(DEPTH + 1).toLocaleString('en')} median ms | ratio |`,
    '|---|---:|---:|---:|',
    ...depth.map((d) => `| ${d.sort} | ${d.firstMs.toFixed(2)} | ${d.deepMs.toFixed(2)} | ${d.ratio.toFixed(2)} |`),
    '',
    '## Scale-out (list by category, WEB_CONCURRENCY processes sharing the port)',
    '',
    '| processes | median req/s | rounds |',
    '|---:|---:|---|',
    ...scale.map((s) => `| ${s.processes} | ${median(s.rps).toFixed(0)} | ${s.rps.map((x) => x.toFixed(0)).join(', ')} |`),
    '',
    '## Bulk import',
    '',
    '| | |',
    '|---|---|',
    importLine,
    '',
    '## Start-up',
    '',
    `\`./run.sh\` until /readyz answers 200: cold first run (initdb, migrations, seeds) ${(startup.coldMs / 1000).toFixed(1)} s; warm ${(startup.warmMs / 1000).toFixed(1)} s (median of 3).`,
    '',
  );
  writeFileSync(join(ROOT, `bench/${RESULTS}.md`), report.join('\n'));
  const profile = [
    '# Where the service spends its CPU',
    '',
    `From the same run as [${RESULTS}.md](${RESULTS}.md): the service started with \`bun --cpu-prof\`, driven by the same wrk script for ${SECONDS} s ` +
      'per query, self time of the sampled JavaScript thread (idle gaps between samples are not counted). ' +
      '"Bun runtime (native)" is code without JavaScript source: the HTTP server, socket reads and writes, ' +
      'string decoding, JSON.stringify, garbage collection.',
    '',
  ];
  for (const p of profiles) {
    profile.push(
      `## ${p.name} (${(p.summary.sampledMs / 1000).toFixed(1)} s sampled)`,
      '',
      '| package | self |',
      '|---|---:|',
      ...p.summary.packages.filter((x) => x.selfPct >= 0.5).map((x) => `| ${x.name} | ${x.selfPct.toFixed(1)} % |`),
      '',
      '| function | where | self |',
      '|---|---|---:|',
      ...p.summary.functions.map((f) => `| \`${f.name}\` | ${f.where} | ${f.selfPct.toFixed(1)} % |`),
      '',
    );
  }
  writeFileSync(join(ROOT, `bench/${PROFILE}.md`), profile.join('\n'));
  log(`wrote bench/${RESULTS}.md and bench/${PROFILE}.md`);
} finally {
  // Whatever failed: no service, and no PostgreSQL, outlives the run.
  await statsConnection?.end();
  await stopServices();
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
