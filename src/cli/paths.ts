import { join, resolve } from 'node:path';

/** The checkout, and where its migrations and seeds are. */
export const ROOT = resolve(import.meta.dir, '../..');
export const MIGRATIONS_DIR = join(ROOT, 'db/migrations');
export const SEEDS_DIR = join(ROOT, 'db/seeds');
