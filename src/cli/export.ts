/**
 * `bun run export [--category X] [--no-location] [--out file.csv]`
 *
 * Writes the active products as CSV (sku,name,description,price,quantity,category,location),
 * ordered by name, one row per product and stock level (quantity: that level's on hand,
 * location: its code), to stdout or --out; --category keeps one category (any case).
 * --no-location writes one row per product with its total quantity and no location
 * column (importing that back would put the total at the default location).
 * Streamed by COPY, so memory stays flat. `bun run import --mode=upsert` of
 * the result changes nothing. Uses DATABASE_URL, or the embedded database.
 * Exit status: 0 written, 1 failed (or no such category), 2 usage.
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createPool, type Sql } from '../db.ts';
import { copyProductsOut, countExportRows, findCategoryId } from '../export/queries.ts';
import { databaseUrl } from './database.ts';
import { connectionFailure } from './database-url.ts';

const USAGE = 'usage: bun run export [--category X] [--no-location] [--out file.csv]';

export class UnknownCategoryError extends Error {
  constructor(readonly category: string) {
    super(`no category named "${category}"`);
  }
}

/**
 * Streams the active products (of one category, when given) as CSV into `out`,
 * from one snapshot, one row per stock level unless `byLocation: false`; `out`
 * is ended unless `end: false`. Returns how many rows it wrote.
 */
export async function exportCsv(
  sql: Sql,
  filter: { category?: string; byLocation?: boolean },
  out: Writable,
  options: { end?: boolean } = {},
): Promise<{ rows: number }> {
  const run = async (tx: Sql) => {
    const categoryId = filter.category === undefined ? undefined : await findCategoryId(tx, filter.category);
    if (filter.category !== undefined && categoryId === undefined) throw new UnknownCategoryError(filter.category);
    const byLocation = filter.byLocation ?? true;
    const rows = await countExportRows(tx, categoryId, byLocation);
    await pipeline(await copyProductsOut(tx, categoryId, byLocation), out, { end: options.end ?? true });
    return { rows };
  };
  // The count and the rows come from one snapshot.
  return 'begin' in sql ? (sql.begin('isolation level repeatable read read only', run) as Promise<{ rows: number }>) : run(sql);
}

export async function main(argv: string[], env = process.env): Promise<number> {
  let category: string | undefined;
  let outPath: string | undefined;
  let byLocation = true;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { category: { type: 'string' }, out: { type: 'string' }, 'no-location': { type: 'boolean' } },
    });
    [category, outPath, byLocation] = [values.category, values.out, !values['no-location']];
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }

  const url = databaseUrl(env);
  const sql = createPool({ databaseUrl: url, poolMax: 1, statementTimeoutMs: 0, connectTimeoutMs: 10_000 }, 'inventory-export');
  const started = performance.now();
  try {
    const out = outPath ? createWriteStream(outPath) : process.stdout;
    const { rows } = await exportCsv(sql, { category, byLocation }, out, { end: Boolean(outPath) });
    const seconds = (performance.now() - started) / 1000;
    process.stderr.write(`exported ${rows} rows to ${outPath ?? 'stdout'} in ${seconds.toFixed(1)} s\n`);
    return 0;
  } catch (error) {
    const e = error as { code?: string; message?: string };
    const message = connectionFailure(e.code, url) ?? `export failed: ${e.message ?? String(error)}`;
    process.stderr.write(`${message}\n`);
    return 1;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
