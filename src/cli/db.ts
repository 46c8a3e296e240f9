/**
 * `bun run db <dbmate command>`: dbmate on the project's migrations, e.g.
 *   bun run db up | down | status | new add_supplier_table
 * Uses DATABASE_URL, or the embedded database `./run.sh` serves.
 */
import { databaseUrl } from './database.ts';
import { dbmate } from './dbmate.ts';

const url = databaseUrl(process.env);
const args = process.argv.slice(2);
try {
  await dbmate(url, args.length ? args : ['status']);
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
