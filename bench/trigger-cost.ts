/**
 * What a set of triggers costs: the same database with the set's triggers enabled and disabled,
 * alternated in one run. The sets: `ledger`, the stock ledger's checks
 * (db/migrations/20261130000001_stock_ledger_guards.sql), `levels`, the check of each level written
 * against its latest movement (db/migrations/20261130000009_stock_locations.sql), and `events`, the triggers that write
 * every change's events (db/migrations/20261130000020_events.sql).
 *   - pgbench -M prepared running the service's create (bench/sql/create.sql), stock
 *     adjustment (bench/sql/adjust.sql) and reservation (bench/sql/reserve.sql) SQL: transactions
 *     per second, and PostgreSQL's CPU per transaction from /proc (steadier than throughput on a
 *     shared machine);
 *   - `importFile` (what `bun run import` runs) of new products, then of every quantity changed
 *     (a count_correction each), into a fresh copy: seconds and PostgreSQL CPU seconds.
 * Prints medians and on/off ratios.
 *   BENCH_TRIGGERS=ledger|levels|events bun bench/trigger-cost.ts [products=100000] [rounds=5] [transactions per client=3000]
 *                                [import rows=100000] [clients=2] [import rounds=rounds]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { dbmate } from '../src/cli/dbmate.ts';
import { ROOT } from '../src/cli/paths.ts';
import { freePort, startEmbeddedPostgres } from '../src/cli/embedded-postgres.ts';
import { createPool } from '../src/db.ts';
import { importFile } from '../src/import/import-file.ts';
import { pgbenchCpu, postgresCpuSeconds, postmasterPid } from './profile.ts';

const args = process.argv.slice(2).map(Number);
const [PRODUCTS = 100_000, ROUNDS = 5, TRANSACTIONS = 3000, IMPORT_ROWS = 100_000, CLIENTS = 2] = args;
const IMPORT_ROUNDS = args[5] ?? ROUNDS;
const TRIGGER_SETS = {
  ledger: [
    ['products', 'products_quantity_in_ledger_insert'],
    ['products', 'products_quantity_in_ledger_update'],
    ['stock_movements', 'stock_movements_follow_ledger'],
    ['stock_movements', 'stock_movements_append_only'],
    ['stock_movements', 'stock_movements_no_truncate'],
  ],
  levels: [['stock_levels', 'stock_levels_in_ledger']],
  events: [
    ['products', 'events_products_created'],
    ['products', 'events_products_changed'],
    ['categories', 'events_categories'],
    ['stock_movements', 'events_stock_moved'],
    ['reservations', 'events_reservations_created'],
    ['reservations', 'events_reservations_closed'],
  ],
} as const;
const SET = (process.env.BENCH_TRIGGERS ?? 'ledger') as keyof typeof TRIGGER_SETS;
if (!(SET in TRIGGER_SETS)) throw new Error(`BENCH_TRIGGERS must be one of ${Object.keys(TRIGGER_SETS).join(', ')}`);
const TRIGGERS = TRIGGER_SETS[SET];

async function setTriggers(sql: postgres.Sql, on: boolean) {
  for (const [table, name] of TRIGGERS) await sql.unsafe(`ALTER TABLE ${table} ${on ? 'ENABLE' : 'DISABLE'} TRIGGER ${name}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const dir = mkdtempSync(join(tmpdir(), 'trigger-cost-'));
const pg = await startEmbeddedPostgres({ dir, port: await freePort(), persistent: false });
const pgPid = postmasterPid(join(dir, 'pgdata'));
const results: Record<string, { on: number[]; off: number[] }> = {};
const record = (key: string, on: boolean, value: number) => (results[key] ??= { on: [], off: [] })[on ? 'on' : 'off'].push(value);
const urlOf = (database: string) => Object.assign(new URL(pg.adminUrl), { pathname: `/${database}` }).toString();

try {
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  await admin`CREATE DATABASE ledger_bench`;
  const url = urlOf('ledger_bench');
  await dbmate(url, ['up'], true);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql`INSERT INTO categories (name) SELECT 'Category ' || lpad(i::text, 2, '0') FROM generate_series(1, 50) i`;
  await sql.begin(async (tx) => {
    await tx`INSERT INTO products (sku, name, price, quantity, category_id)
             SELECT 'SKU-' || i, 'Product ' || i, 9.99, 1000, (SELECT min(id) FROM categories) + i % 50
             FROM generate_series(1, ${PRODUCTS}) i`;
    await tx`INSERT INTO stock_movements (product_id, delta, reason, quantity_after)
             SELECT id, quantity, 'initial', quantity FROM products ORDER BY id`;
  });
  await sql`VACUUM ANALYZE`;
  const [{ max }] = await sql<[{ max: number }]>`SELECT max(id)::int AS max FROM products`;

  const pgbench = (script: string, vars: Record<string, number>) =>
    pgbenchCpu({ postmaster: pgPid, url, script, vars, clients: CLIENTS, transactions: TRANSACTIONS });
  const workloads = [
    ['create with quantity', join(ROOT, 'bench/sql/create.sql'), {}],
    ['stock adjustment', join(ROOT, 'bench/sql/adjust.sql'), { max_id: max }],
    ['reservation', join(ROOT, 'bench/sql/reserve.sql'), { max_id: max }],
  ] as const;
  // With events, the publisher numbers them as the service's background job does (its CPU is counted).
  let publishing = SET === 'events';
  const publisher = postgres(url, { max: 1, onnotice: () => {} });
  const published = (async () => {
    while (publishing) {
      await publisher`SELECT events_publish(10000)`;
      await Bun.sleep(100);
    }
  })();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const on of round % 2 ? [true, false] : [false, true]) {
      await setTriggers(sql, on);
      for (const [name, script, vars] of workloads) {
        const r = await pgbench(script, vars);
        record(`${name}: tps`, on, r.tps);
        record(`${name}: PostgreSQL CPU µs per transaction`, on, r.cpuUs);
        console.log(
          `round ${round} ${name}, triggers ${on ? 'on' : 'off'}: ${r.tps.toFixed(0)} tps, ${r.cpuUs.toFixed(0)} µs CPU`,
        );
      }
    }
  }
  publishing = false;
  await published;
  await publisher.end();
  await setTriggers(sql, true);
  await sql.end();

  if (IMPORT_ROWS > 0 && IMPORT_ROUNDS > 0) {
    const rows = (bump: number) =>
      [
        'sku,name,description,price,quantity,category',
        ...Array.from({ length: IMPORT_ROWS }, (_, j) => {
          const i = j + 1;
          return `IMP-${i},Imported product ${i},"Bulk, imported item ${i}",${((i * 7919) % 100000) / 100},${1 + ((i * 31) % 500) + bump},Import ${1 + (i % 50)}`;
        }),
      ].join('\n') + '\n';
    const fresh = join(dir, 'new.csv');
    const changed = join(dir, 'changed.csv');
    writeFileSync(fresh, rows(0));
    writeFileSync(changed, rows(1));
    for (let round = 1; round <= IMPORT_ROUNDS; round++) {
      for (const on of round % 2 ? [true, false] : [false, true]) {
        await admin`DROP DATABASE IF EXISTS ledger_import WITH (FORCE)`;
        await admin`CREATE DATABASE ledger_import TEMPLATE ledger_bench`;
        const owner = postgres(urlOf('ledger_import'), { max: 1, onnotice: () => {} });
        await setTriggers(owner, on);
        await owner.end();
        const pool = createPool({ databaseUrl: urlOf('ledger_import'), poolMax: 1 });
        await pool`SELECT 1`;
        const c0 = postgresCpuSeconds(pgPid);
        const inserted = await importFile(pool, fresh);
        const c1 = postgresCpuSeconds(pgPid);
        const updated = await importFile(pool, changed);
        const c2 = postgresCpuSeconds(pgPid);
        await pool.end();
        record(`import ${IMPORT_ROWS} new products: s`, on, inserted.seconds);
        record(`import ${IMPORT_ROWS} new products: PostgreSQL CPU s`, on, c1 - c0);
        record(`import ${IMPORT_ROWS} changed quantities: s`, on, updated.seconds);
        record(`import ${IMPORT_ROWS} changed quantities: PostgreSQL CPU s`, on, c2 - c1);
        console.log(
          `round ${round} import, triggers ${on ? 'on' : 'off'}: new ${inserted.seconds.toFixed(2)} s ` +
            `(${(c1 - c0).toFixed(2)} s CPU), changed ${updated.seconds.toFixed(2)} s (${(c2 - c1).toFixed(2)} s CPU)`,
        );
      }
    }
  }
  await admin.end();
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}

console.log(`\n${SET} triggers\n\n| workload | triggers on | triggers off | on / off |\n|---|---|---|---|`);
for (const [key, { on, off }] of Object.entries(results)) {
  const digits = key.endsWith(' s') ? 2 : 0;
  console.log(
    `| ${key} | ${median(on).toFixed(digits)} | ${median(off).toFixed(digits)} | ${(median(on) / median(off)).toFixed(2)} |`,
  );
}
