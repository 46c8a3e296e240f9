/**
 * Reads on a standby against reads on the primary alone: the listing of one category (50 rows,
 * bench/wrk/list-by-category.lua) served by two services on the same PostgreSQL 15 primary with a
 * synchronous hot standby (Debian's binaries, tests/failover/cluster.ts): one without
 * DATABASE_READ_URL, one with the standby as its read URL (src/db-read.ts). In each round both are
 * measured in turn (the order reversed every other round): requests per second, p50/p99, and CPU
 * microseconds per request of the service, the primary and the standby, from /proc. Reports,
 * asserts nothing; prints a Markdown table and writes it to bench/out/standby-reads-<time>.md.
 *
 *   bun bench/standby-reads.ts      BENCH_PRODUCTS (100000), BENCH_ROUNDS (3), BENCH_SECONDS (10),
 *                                   BENCH_CONNECTIONS (32), BENCH_PIN (shared | separate: both
 *                                   PostgreSQL servers on core 0, the services and wrk on core 1)
 *
 * On a machine of 2 cores the servers, the services and wrk share them, so moving reads to the
 * standby moves CPU from one PostgreSQL to the other on the same cores: expect little gain in
 * throughput. What it shows is where each request's CPU goes, which is what a standby on a host
 * of its own would take off the primary.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { withDatabase } from '../src/cli/database-url.ts';
import { dbmate } from '../src/cli/dbmate.ts';
import { provisionApiRole, provisionDatabase } from '../src/cli/provision.ts';
import { PG15_AVAILABLE, SKIPPED, startCluster, waitFor } from '../tests/failover/cluster.ts';
import { loadBenchCatalog } from './catalog.ts';
import {
  CONNECTIONS,
  ensureWrk,
  logger,
  median,
  OUT,
  pinBenchmark,
  pinPostgres,
  placement,
  publishLoadedEvents,
  POOL,
  runWrk,
  SECONDS,
  startService,
  stopServices,
} from './harness.ts';
import { postgresChildren, postgresCpuSeconds, postmasterPid, processCpuSeconds, waitForExit } from './profile.ts';

const PRODUCTS = Number(process.env.BENCH_PRODUCTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CATEGORIES = 50;
const log = logger('standby-reads');

if (!PG15_AVAILABLE) {
  console.error(`standby-reads: ${SKIPPED}`);
  process.exit(1);
}

type Row = { rps: number; p50: number; p99: number; service: number; primary: number; standby: number };

const wrk = await ensureWrk();
pinBenchmark();
const cluster = await startCluster();
try {
  const { a, b } = cluster;
  const primaryPid = postmasterPid(a.dir);
  const standbyPid = postmasterPid(b.dir);
  pinPostgres(primaryPid);
  pinPostgres(standbyPid);
  const ownerUrl = await provisionDatabase(cluster.adminUrl(a));
  await dbmate(ownerUrl, ['up'], true);
  const apiUrl = await provisionApiRole(cluster.adminUrl(a));
  const readUrl = apiUrl.replace(`:${a.port}/`, `:${b.port}/`);

  log(`loading ${PRODUCTS} products on the primary`);
  const owner = postgres(ownerUrl, { max: 1, onnotice: () => {} });
  await loadBenchCatalog(owner, PRODUCTS, CATEGORIES);
  await publishLoadedEvents(owner);
  await owner`VACUUM ANALYZE`;
  await owner.end();
  const primary = postgres(withDatabase(cluster.adminUrl(a), 'inventory_db'), { max: 1, onnotice: () => {} });
  const standby = postgres(withDatabase(cluster.adminUrl(b), 'inventory_db'), { max: 1, onnotice: () => {} });
  const [{ lsn }] = await primary<[{ lsn: string }]>`SELECT pg_current_wal_lsn()::text AS lsn`;
  await waitFor(
    'the standby to replay the catalog',
    async () => (await standby<[{ done: boolean }]>`SELECT pg_last_wal_replay_lsn() >= ${lsn}::pg_lsn AS done`)[0].done,
    600_000,
  );
  // The load's checkpoint and the standby's restartpoint now, not during a measurement.
  await primary`CHECKPOINT`;
  await standby`CHECKPOINT`;
  await Promise.all([primary.end(), standby.end()]);

  const services = {
    'primary only': await startService(apiUrl, { label: 'primary-only' }),
    'reads on the standby': await startService(apiUrl, { label: 'standby-reads', env: { DATABASE_READ_URL: readUrl } }),
  };
  const results: Record<string, Row[]> = {};
  for (let round = 1; round <= ROUNDS; round++) {
    const names = Object.keys(services) as (keyof typeof services)[];
    for (const name of round % 2 ? names : names.reverse()) {
      const server = services[name];
      const before = new Set([...postgresChildren(primaryPid), ...postgresChildren(standbyPid)]);
      const s0 = processCpuSeconds(server.proc.pid);
      const p0 = postgresCpuSeconds(primaryPid);
      const b0 = postgresCpuSeconds(standbyPid);
      const m = await runWrk(wrk, server.base, 'list-by-category.lua');
      await waitForExit([...postgresChildren(primaryPid), ...postgresChildren(standbyPid)].filter((p) => !before.has(p)));
      const per = (seconds: number) => (seconds * 1e6) / m.requests;
      const row = {
        rps: m.rps,
        p50: m.p50,
        p99: m.p99,
        service: per(processCpuSeconds(server.proc.pid) - s0),
        primary: per(postgresCpuSeconds(primaryPid) - p0),
        standby: per(postgresCpuSeconds(standbyPid) - b0),
      };
      (results[name] ??= []).push(row);
      log(
        `round ${round} ${name}: ${row.rps.toFixed(0)} req/s, p99 ${row.p99.toFixed(1)} ms; CPU µs/request: ` +
          `service ${row.service.toFixed(0)}, primary ${row.primary.toFixed(0)}, standby ${row.standby.toFixed(0)}` +
          (m.errors ? `; ${m.errors} errors` : ''),
      );
    }
  }
  // Where the service with a read URL sent its reads (src/db-read.ts counts each, with the reason).
  const metrics = await (await fetch(`${services['reads on the standby'].base}/metrics`)).text();
  const routed = metrics
    .split('\n')
    .filter((l) => l.startsWith('db_reads_total{'))
    .map((l) => l.replace('db_reads_total', '').replace(/"/g, ''))
    .join(', ');
  const med = (rows: Row[], k: keyof Row) => median(rows.map((r) => r[k]));
  const base = results['primary only']!;
  const text = [
    '# Reads on a standby, one run',
    '',
    `Run ${new Date().toISOString()} by \`bun bench/standby-reads.ts\`: PostgreSQL 15 primary with a synchronous hot standby ` +
      `on this machine; ${placement()}. ${PRODUCTS.toLocaleString('en')} products in ${CATEGORIES} categories; ` +
      `GET /products?category=…&limit=50 by wrk (1 thread, ${CONNECTIONS} connections, ${SECONDS} s); service pool ${POOL}; ` +
      `medians of ${ROUNDS} rounds. CPU: microseconds per request from /proc (PostgreSQL with its exited backends).`,
    '',
    '| service | req/s | p50 ms | p99 ms | service CPU | primary CPU | standby CPU | req/s vs primary only |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...Object.entries(results).map(
      ([name, rows]) =>
        `| ${name} | ${med(rows, 'rps').toFixed(0)} | ${med(rows, 'p50').toFixed(2)} | ${med(rows, 'p99').toFixed(2)} | ` +
        `${med(rows, 'service').toFixed(0)} | ${med(rows, 'primary').toFixed(0)} | ${med(rows, 'standby').toFixed(0)} | ` +
        `${(med(rows, 'rps') / med(base, 'rps')).toFixed(2)} |`,
    ),
    '',
    `Reads of the service with a read URL, by server and reason (db_reads_total): ${routed || 'none counted'}.`,
  ].join('\n');
  console.log(text);
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, `standby-reads-${new Date().toISOString().replace(/[:.]/g, '-')}.md`);
  writeFileSync(file, `${text}\n`);
  log(`wrote ${file}`);
} finally {
  await stopServices();
  await cluster.destroy();
}
