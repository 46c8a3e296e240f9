import type { Sql } from '../db.ts';

/**
 * True when the database answers within `timeoutMs` and takes writes: a
 * primary (not in recovery) whose sessions are not read-only. A standby that
 * answers is not enough: every write would fail there.
 */
export async function databaseWritable(sql: Sql, timeoutMs: number): Promise<boolean> {
  const query = sql<{ writable: boolean }[]>`
    SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off' AS writable`;
  const timer = setTimeout(() => query.cancel(), timeoutMs);
  try {
    const [row] = await query;
    return row?.writable === true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
