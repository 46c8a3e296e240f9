import type { Sql } from '../db.ts';

/**
 * Counts one request of `client` in the current window of `windowS` seconds.
 * Returns the count so far and the seconds left in the window.
 */
export async function countRequest(sql: Sql, client: string, windowS: number): Promise<{ requests: number; resetS: number }> {
  const [row] = await sql<{ requests: number; reset_s: number }[]>`
    INSERT INTO rate_limit_counters (client, window_start)
    VALUES (${client}, to_timestamp(floor(extract(epoch FROM now()) / ${windowS}) * ${windowS}))
    ON CONFLICT (client, window_start) DO UPDATE SET requests = rate_limit_counters.requests + 1
    RETURNING requests,
      ceil(extract(epoch FROM window_start) + ${windowS} - extract(epoch FROM now()))::int AS reset_s`;
  return { requests: row!.requests, resetS: Math.max(1, row!.reset_s) };
}

/** Deletes counters of windows that have ended. */
export async function purgeOldWindows(sql: Sql, windowS: number): Promise<void> {
  await sql`DELETE FROM rate_limit_counters WHERE window_start < now() - make_interval(secs => ${windowS})`;
}
