import postgres from 'postgres';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writableUrl } from './database-url.ts';
import { SEEDS_DIR } from './paths.ts';

/** Loads every db/seeds/*.sql file in name order, each in its own transaction. */
export async function loadSeeds(url: string, dir = SEEDS_DIR): Promise<string[]> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  const sql = postgres(await writableUrl(url), { max: 1, onnotice: () => {} });
  try {
    for (const file of files) {
      await sql.begin((tx) => tx.file(join(dir, file)).simple());
    }
  } finally {
    await sql.end();
  }
  return files;
}
