/**
 * `bun run db <dbmate command>`: dbmate on the project's migrations, e.g.
 *   bun run db up | down | status | new add_supplier_table
 * Uses DATABASE_URL, or the embedded database `./run.sh` serves.
 */
import { dbmate, DEFAULT_DATABASE } from './database.ts';

const { user, password, database } = DEFAULT_DATABASE;
const url = process.env.DATABASE_URL ?? `postgres://${user}:${password}@127.0.0.1:${process.env.PGPORT ?? 5432}/${database}`;
const args = process.argv.slice(2);
try {
  await dbmate(url, args.length ? args : ['status']);
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
