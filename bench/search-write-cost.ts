/**
 * What product search costs writes (db/migrations/20261130000003_product_search.sql to
 * 20261130000007): the triggers that keep search_words (products_search_words_added,
 * products_search_words_changed) and the three indexes on products (products_sku_trigram_idx,
 * products_search_idx, products_sku_order_idx). One throwaway PostgreSQL holds two copies of the
 * same catalog (bench/catalog.ts): `search_on` as the migrations leave it, and `search_off` with
 * the two triggers disabled and the three indexes dropped. pgbench -M prepared runs the service's
 * create (bench/sql/create.sql) and stock adjustment (bench/sql/adjust.sql) SQL on one, then on the
 * other, in an order that alternates by round, with the session settings of the service's pool
 * (plan_cache_mode=force_generic_plan). Prints, for each workload, the medians of transactions per
 * second and of PostgreSQL's CPU per transaction from /proc (steadier than throughput on a shared
 * machine), with and without search, and their ratio.
 *
 *   bun bench/search-write-cost.ts [products=200000] [rounds=5] [transactions per client=5000] [clients=2]
 *
 * The GIN indexes take new entries into their pending list (fastupdate, PostgreSQL's default) and
 * merge it into the index when it outgrows gin_pending_list_limit (4 MB), in the insert that
 * overflows it: a run must be long enough to include such merges for the medians to carry them.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { dbmate } from '../src/cli/dbmate.ts';
import { freePort, startEmbeddedPostgres } from '../src/cli/embedded-postgres.ts';
import { ROOT } from '../src/cli/paths.ts';
import { copyCatalog } from './catalog.ts';
import { pgbenchCpu, postmasterPid } from './profile.ts';

const [PRODUCTS = 200_000, ROUNDS = 5, TRANSACTIONS = 5000, CLIENTS = 2] = process.argv.slice(2).map(Number);
const TRIGGERS = ['products_search_words_added', 'products_search_words_changed'];
const INDEXES = ['products_sku_trigram_idx', 'products_search_idx', 'products_sku_order_idx'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const dir = mkdtempSync(join(tmpdir(), 'search-write-cost-'));
chmodSync(dir, 0o755);
const pg = await startEmbeddedPostgres({ dir, port: await freePort(), persistent: false });
const pgPid = postmasterPid(join(dir, 'pgdata'));
const urlOf = (database: string) => Object.assign(new URL(pg.adminUrl), { pathname: `/${database}` }).toString();
const results: Record<string, { on: number[]; off: number[] }> = {};
const record = (key: string, on: boolean, value: number) => (results[key] ??= { on: [], off: [] })[on ? 'on' : 'off'].push(value);

try {
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  await admin`CREATE DATABASE search_on`;
  await dbmate(urlOf('search_on'), ['up'], true);
  const on = postgres(urlOf('search_on'), { max: 1, onnotice: () => {} });
  await on`INSERT INTO categories (name) SELECT 'Category ' || lpad(i::text, 2, '0') FROM generate_series(1, 50) i`;
  const categories = await on<{ id: number }[]>`SELECT id FROM categories ORDER BY id`;
  const t0 = performance.now();
  await copyCatalog(
    on,
    PRODUCTS,
    categories.map((c) => c.id),
  );
  await on`VACUUM ANALYZE`;
  const [{ max }] = await on<[{ max: number }]>`SELECT max(id)::int AS max FROM products`;
  await on.end();
  console.log(`loaded ${PRODUCTS} products in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // The same catalog without search: the triggers disabled, the indexes dropped.
  // Refused while another session (an autovacuum worker) is connected to the template: try again.
  for (let attempt = 1; ; attempt++) {
    try {
      await admin`CREATE DATABASE search_off TEMPLATE search_on`;
      break;
    } catch (error) {
      if (attempt === 10) throw error;
      await Bun.sleep(1000);
    }
  }
  const off = postgres(urlOf('search_off'), { max: 1, onnotice: () => {} });
  for (const name of TRIGGERS) await off.unsafe(`ALTER TABLE products DISABLE TRIGGER ${name}`);
  for (const name of INDEXES) await off.unsafe(`DROP INDEX ${name}`);
  await off`VACUUM ANALYZE`;
  await off.end();
  await admin.end();

  const pgbench = (database: string, script: string, vars: Record<string, number>) =>
    pgbenchCpu({
      postmaster: pgPid,
      url: urlOf(database),
      script,
      vars,
      clients: CLIENTS,
      transactions: TRANSACTIONS,
      // The session settings of the service's pool (src/db.ts), as bench/run.ts gives pgbench.
      env: { PGOPTIONS: '-c plan_cache_mode=force_generic_plan' },
    });
  const workloads = [
    ['create with quantity', join(ROOT, 'bench/sql/create.sql'), {}],
    ['stock adjustment', join(ROOT, 'bench/sql/adjust.sql'), { max_id: max }],
  ] as const;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const withSearch of round % 2 ? [true, false] : [false, true]) {
      for (const [name, script, vars] of workloads) {
        const r = await pgbench(withSearch ? 'search_on' : 'search_off', script, vars);
        record(`${name}: tps`, withSearch, r.tps);
        record(`${name}: PostgreSQL CPU µs per transaction`, withSearch, r.cpuUs);
        console.log(
          `round ${round} ${name}, search ${withSearch ? 'on' : 'off'}: ${r.tps.toFixed(0)} tps, ${r.cpuUs.toFixed(0)} µs CPU`,
        );
      }
    }
  }
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}

console.log(`\n${PRODUCTS} products, ${ROUNDS} rounds, ${TRANSACTIONS} transactions per client, ${CLIENTS} clients; medians\n`);
console.log('| workload | with search | without | with / without |\n|---|---:|---:|---:|');
for (const [key, { on, off }] of Object.entries(results)) {
  console.log(`| ${key} | ${median(on).toFixed(0)} | ${median(off).toFixed(0)} | ${(median(on) / median(off)).toFixed(2)} |`);
}
