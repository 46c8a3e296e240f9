import type { Sql } from '../db.ts';

/** True when the database answers a trivial query within `timeoutMs`. */
export async function pingDatabase(sql: Sql, timeoutMs: number): Promise<boolean> {
  const query = sql`SELECT 1`;
  const timer = setTimeout(() => query.cancel(), timeoutMs);
  try {
    await query;
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
