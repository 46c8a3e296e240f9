import type { Sql } from '../db.ts';

export type WindowCount = {
  client: string;
  /** Requests counted in the client's current window, this batch's included. */
  requests: number;
  /** Milliseconds left in that window when the statement ran. */
  msLeft: number;
};

/**
 * Counts a batch of requests, `counts[i]` for `clients[i]`, in the current
 * window of `windowS` seconds: one statement for every client of the batch.
 * Rows are locked in client order, so batches of several processes cannot
 * deadlock; each process sends at most one batch at a time, so at most one
 * statement per process waits on a client's row.
 */
export async function countRequests(sql: Sql, clients: string[], counts: number[], windowS: number): Promise<WindowCount[]> {
  return sql<WindowCount[]>`
    INSERT INTO rate_limit_counters AS c (client, window_start, requests)
    SELECT b.client, to_timestamp(floor(extract(epoch FROM now()) / ${windowS}) * ${windowS}), b.n
    FROM unnest(${clients}::text[], ${counts}::int[]) AS b(client, n)
    ORDER BY b.client
    ON CONFLICT (client, window_start) DO UPDATE SET requests = c.requests + EXCLUDED.requests
    RETURNING c.client, c.requests,
      ((extract(epoch FROM c.window_start) + ${windowS} - extract(epoch FROM now())) * 1000)::float8 AS "msLeft"`;
}

/** Deletes counters of windows that have ended. */
export async function purgeOldWindows(sql: Sql, windowS: number): Promise<void> {
  await sql`DELETE FROM rate_limit_counters WHERE window_start < now() - make_interval(secs => ${windowS})`;
}
