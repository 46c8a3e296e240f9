/**
 * Bulk import against PostgreSQL's own COPY, in the same run: one CSV file of
 * new products, loaded (a) by `bun run import` (COPY into a staging table,
 * checked in SQL with the API's rules, upserted with its ledger rows) into a
 * fresh migrated database, and (b) by a raw COPY of the same file into a plain
 * table of the same columns. Returns a markdown table row.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { importFile } from '../src/import/import-file.ts';
import { createPool } from '../src/db.ts';
import { dbmate } from '../src/cli/dbmate.ts';

export async function benchImport(adminUrl: string, rows: number, out: string): Promise<string> {
  const file = join(out, `import-${rows}.csv`);
  const lines = ['sku,name,description,price,quantity,category'];
  for (let i = 1; i <= rows; i++) {
    lines.push(
      `IMP-${i},Imported product ${i},"Bulk, imported item ${i}",${((i * 7919) % 100000) / 100},${(i * 31) % 500},Import ${1 + (i % 50)}`,
    );
  }
  writeFileSync(file, lines.join('\n') + '\n');

  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  const url = new URL(adminUrl);
  url.pathname = '/import_bench';
  try {
    await admin`DROP DATABASE IF EXISTS import_bench WITH (FORCE)`;
    await admin`CREATE DATABASE import_bench`;
    await dbmate(url.toString(), ['up'], true);

    const sql = createPool({ databaseUrl: url.toString(), poolMax: 2 });
    const imported = await importFile(sql, file);
    await sql.end();

    const raw = postgres(url.toString(), { max: 1, onnotice: () => {} });
    await raw`CREATE TABLE copy_bench (sku text, name text, description text, price text, quantity text, category text)`;
    const started = performance.now();
    const writable = await raw`COPY copy_bench FROM STDIN WITH (FORMAT csv, HEADER true)`.writable();
    const bytes = Buffer.from(lines.join('\n') + '\n');
    await new Promise<void>((resolve, reject) => {
      writable.write(bytes, (e) => (e ? reject(e) : writable.end((e2?: Error | null) => (e2 ? reject(e2) : resolve()))));
    });
    const copySeconds = (performance.now() - started) / 1000;
    await raw.end();

    // The same rows COPYed straight into products (category names resolved to ids
    // beforehand) with their initial movements: what the table itself costs.
    await admin`DROP DATABASE IF EXISTS import_bench_copy WITH (FORCE)`;
    await admin`CREATE DATABASE import_bench_copy`;
    const copyUrl = new URL(adminUrl);
    copyUrl.pathname = '/import_bench_copy';
    await dbmate(copyUrl.toString(), ['up'], true);
    const direct = postgres(copyUrl.toString(), { max: 1, onnotice: () => {} });
    const categories = await direct<{ id: number; name: string }[]>`
      INSERT INTO categories (name) SELECT 'Import ' || i FROM generate_series(1, 50) i RETURNING id, name`;
    const idOf = new Map(categories.map((c) => [c.name, c.id]));
    const text = lines
      .slice(1)
      .map((_, j) => {
        const i = j + 1;
        return `IMP-${i}\tImported product ${i}\tBulk, imported item ${i}\t${((i * 7919) % 100000) / 100}\t${(i * 31) % 500}\t${idOf.get(`Import ${1 + (i % 50)}`)}\n`;
      })
      .join('');
    const directStarted = performance.now();
    await direct.begin(async (tx) => {
      const w = await tx`COPY products (sku, name, description, price, quantity, category_id) FROM STDIN`.writable();
      await new Promise<void>((resolve, reject) => {
        w.write(text, (e) => (e ? reject(e) : w.end((e2?: Error | null) => (e2 ? reject(e2) : resolve()))));
      });
      await tx`INSERT INTO stock_movements (product_id, delta, reason, quantity_after)
               SELECT id, quantity, 'initial', quantity FROM products WHERE quantity > 0`;
    });
    const directSeconds = (performance.now() - directStarted) / 1000;
    await direct.end();
    await admin`DROP DATABASE IF EXISTS import_bench_copy WITH (FORCE)`;

    const importRate = imported.rows / imported.seconds;
    const copyRate = rows / copySeconds;
    const directRate = rows / directSeconds;
    return [
      `| \`bun run import\` of ${rows.toLocaleString('en')} CSV rows (staging COPY, checks, upsert, ledger) | ${imported.seconds.toFixed(1)} s, ${importRate.toFixed(0)} rows/s (${imported.inserted} inserted, ${imported.invalidRows} invalid) |`,
      `| raw COPY of the same rows into products, with their initial movements | ${directSeconds.toFixed(1)} s, ${directRate.toFixed(0)} rows/s; import at ${((importRate / directRate) * 100).toFixed(0)} % of it |`,
      `| raw COPY of the same file into a plain table without indexes | ${copySeconds.toFixed(1)} s, ${copyRate.toFixed(0)} rows/s; import at ${((importRate / copyRate) * 100).toFixed(0)} % of it |`,
    ].join('\n');
  } finally {
    await admin`DROP DATABASE IF EXISTS import_bench WITH (FORCE)`.catch(() => {});
    await admin`DROP DATABASE IF EXISTS import_bench_copy WITH (FORCE)`.catch(() => {});
    await admin.end();
  }
}
