/**
 * What a product's `available` costs PostgreSQL, statement against statement: the service's
 * listing (bench/sql/list-by-category.sql) and lookup (bench/sql/get-by-id.sql) with four
 * expressions in its place, on one database migrated by this checkout:
 *
 *   quantity        `p.quantity AS available`: no reservation read, as before stock by location
 *   subquery        the reservations subquery for every row (src/products/queries.ts before reserved_until)
 *   hint+subquery   that subquery only where reserved_until is ahead, in a CASE branch
 *   hint            the service's AVAILABLE_SQL: product_reserved() only where reserved_until is ahead
 *
 * One pgbench run per statement takes the four scripts at random, transaction by transaction
 * (`-f script@1` each), on one connection, so whatever else the machine does falls on the three
 * alike; pgbench reports each script's mean latency. Repeated `rounds` times; medians.
 *
 *   bun bench/available-cost.ts [products=100000] [rounds=5] [seconds=20] [reserved products=0]
 *
 * With reserved products, that many products spread over the catalog get an open reservation of
 * one unit for a day (through stock_reserve) before the statistics are taken.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { dbmate } from '../src/cli/dbmate.ts';
import { freePort, startEmbeddedPostgres } from '../src/cli/embedded-postgres.ts';
import { ROOT } from '../src/cli/paths.ts';
import { AVAILABLE_SQL } from '../src/products/queries.ts';
import { copyCatalog } from './catalog.ts';
import { ensurePgbench, logger, median, sh } from './harness.ts';

const [PRODUCTS = 100_000, ROUNDS = 5, SECONDS = 20, RESERVED = 0] = process.argv.slice(2).map(Number);
const log = logger('available-cost');

const words = (text: string) => text.replace(/\s+/g, ' ');
const SUBQUERY =
  "greatest(p.quantity - coalesce((SELECT sum(r.quantity) FROM reservations r WHERE r.product_id = p.id AND r.state = 'open' AND r.expires_at > now()), 0), 0)::int AS available";
const VARIANTS = {
  quantity: 'p.quantity AS available',
  subquery: SUBQUERY,
  'hint+subquery': `(CASE WHEN p.reserved_until > now() THEN ${SUBQUERY.replace(' AS available', '').replace('::int', '')} ELSE p.quantity END)::int AS available`,
  hint: words(AVAILABLE_SQL),
} as const;
type Variant = keyof typeof VARIANTS;

const dir = mkdtempSync(join(tmpdir(), 'available-cost-'));
chmodSync(dir, 0o755);
/** The statement's bench script with each variant of `available` in it. */
function scripts(file: string): Record<Variant, string> {
  const text = readFileSync(join(ROOT, 'bench/sql', file), 'utf8');
  const service = words(AVAILABLE_SQL);
  if (!text.includes(service)) throw new Error(`bench/sql/${file} does not show available as the service does`);
  return Object.fromEntries(
    Object.entries(VARIANTS).map(([name, expression]) => {
      const path = join(dir, `${name}-${file}`);
      writeFileSync(path, text.replace(service, expression));
      return [name, path];
    }),
  ) as Record<Variant, string>;
}

const pgbench = await ensurePgbench();
const pg = await startEmbeddedPostgres({ dir: join(dir, 'pg'), port: await freePort(), persistent: false });
try {
  const url = Object.assign(new URL(pg.adminUrl), { pathname: '/available_cost' }).toString();
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => {} });
  await admin`CREATE DATABASE available_cost`;
  await admin.end();
  await dbmate(url, ['up'], true);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql`INSERT INTO categories (name) SELECT 'Category ' || lpad(i::text, 2, '0') FROM generate_series(1, 50) i`;
  const categories = await sql<{ id: number }[]>`SELECT id FROM categories ORDER BY id`;
  await copyCatalog(
    sql,
    PRODUCTS,
    categories.map((c) => c.id),
  );
  if (RESERVED > 0) {
    await sql`
      SELECT count(stock_reserve(p.id, default_location(), 1, now() + interval '1 day'))
      FROM products p
      WHERE p.quantity > 0 AND p.id % greatest(${Math.floor(PRODUCTS / RESERVED)}::int, 1) = 0`;
  }
  await sql`VACUUM ANALYZE`;
  const [{ max, reserved }] = await sql<[{ max: number; reserved: number }]>`
    SELECT max(id)::int AS max, count(*) FILTER (WHERE reserved_until > now())::int AS reserved FROM products`;
  await sql.end();
  log(`${PRODUCTS} products, ${reserved} with reserved_until ahead`);

  const statements = [
    { name: 'list by category, 50 rows', scripts: scripts('list-by-category.sql'), vars: {} },
    { name: 'get by id', scripts: scripts('get-by-id.sql'), vars: { max_id: max } },
  ];
  const results = new Map<string, Record<Variant, number[]>>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of statements) {
      const u = new URL(url);
      const r = await sh(
        [
          pgbench,
          ...['-n', '-M', 'prepared', '-c', '1', '-j', '1', '-T', String(SECONDS)],
          ...Object.values(s.scripts).flatMap((path) => ['-f', `${path}@1`]),
          ...Object.entries(s.vars).flatMap(([k, v]) => ['-D', `${k}=${v}`]),
          ...['-h', u.hostname, '-p', u.port, '-U', decodeURIComponent(u.username), u.pathname.slice(1)],
        ],
        // The session settings of the service's pool (src/db.ts).
        {
          env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password), PGOPTIONS: '-c plan_cache_mode=force_generic_plan' },
        },
      );
      // Per script: "SQL script N: <path>" ... " - latency average = X ms".
      const perScript = [...r.out.matchAll(/SQL script \d+: (\S+)[\s\S]*?latency average = ([\d.]+) ms/g)];
      if (perScript.length !== Object.keys(VARIANTS).length) throw new Error(`pgbench failed: ${r.out}${r.err}`);
      const into = results.get(s.name) ?? { quantity: [], subquery: [], 'hint+subquery': [], hint: [] };
      for (const [, path, ms] of perScript) {
        const variant = (Object.entries(s.scripts).find(([, p]) => p === path)?.[0] ?? '') as Variant;
        into[variant].push(Number(ms) * 1000);
      }
      results.set(s.name, into);
      log(
        `round ${round} ${s.name}: ${Object.entries(into)
          .map(([v, xs]) => `${v} ${xs.at(-1)!.toFixed(0)} µs`)
          .join(', ')}`,
      );
    }
  }
  const lines = [
    '',
    `${PRODUCTS.toLocaleString('en')} products (${reserved} with reserved_until ahead); pgbench -M prepared, 1 client, ` +
      `force_generic_plan, the four scripts drawn at random per transaction; ${ROUNDS} rounds of ${SECONDS} s; ` +
      'medians of the mean latency per statement (µs, round trip included).',
    '',
    '| statement | quantity | subquery | hint+subquery | hint (AVAILABLE_SQL) | subquery − quantity | hint+subquery − quantity | hint − quantity |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...[...results].map(([name, r]) => {
      const m = Object.fromEntries(Object.entries(r).map(([v, xs]) => [v, median(xs)])) as Record<Variant, number>;
      const over = (v: Variant) => (m[v] - m.quantity).toFixed(0);
      return `| ${name} | ${m.quantity.toFixed(0)} | ${m.subquery.toFixed(0)} | ${m['hint+subquery'].toFixed(0)} | ${m.hint.toFixed(0)} | ${over('subquery')} | ${over('hint+subquery')} | ${over('hint')} |`;
    }),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
