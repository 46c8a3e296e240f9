import type { Sql } from '../db.ts';
import type { EventType, FeedEvent } from './model.ts';

export type FeedFilter = {
  /** Only events after this position. */
  after: number;
  /** Only events of these types (any of them). */
  types?: EventType[];
  /** Only events of this product. */
  product?: number;
  limit: number;
};

export type FeedPage = {
  /** At most `limit` published events after `after`, in position order. */
  events: FeedEvent[];
  /** Whether more events may follow the last one (the page is full). */
  more: boolean;
  /**
   * The feed's last position when it was read, in the same snapshot as the
   * events: no event at or before it that the filter takes is missing from
   * this page or an earlier one, so a consumer whose page was not full goes
   * on from here (a filtered one skips what it does not take).
   */
  end: number;
};

const COLUMNS = 'id, position, type, product_id, data, occurred_at';

/**
 * The published events after a position, filtered, in position order. One
 * statement: the events and the feed's end (event_publisher.last_position,
 * which the publisher moves in the transaction that gives the positions) are
 * read in one snapshot. Each filter reads its own index in position order:
 * a product's events (events_product_idx, then the types as a filter), each
 * type's events (events_type_idx, at most a page of each, merged), or the
 * whole feed (events_position_key); never more than a page per type.
 */
export async function readFeed(sql: Sql, f: FeedFilter): Promise<FeedPage> {
  const rows = await sql<(Omit<FeedEvent, 'id'> & { id: number | null; feed_end: number })[]>`
    SELECT h.last_position AS feed_end, e.*
    FROM event_publisher h LEFT JOIN LATERAL (${pageOf(sql, f)}) e ON true
    ORDER BY e.position`;
  const end = rows[0]?.feed_end ?? 0;
  const events = rows.filter((row) => row.id !== null).map(({ feed_end: _, ...event }) => event as FeedEvent);
  const more = events.length > f.limit;
  if (more) events.length = f.limit;
  return { events, more, end };
}

/** The page's events (one more than the limit, to tell whether more follow), each filter from its own index. */
function pageOf(sql: Sql, f: FeedFilter) {
  const take = f.limit + 1;
  // sql.unsafe: the constant column list (no value reaches it), shared by the three forms below.
  const cols = sql.unsafe(COLUMNS);
  if (f.product !== undefined) {
    return sql`
      SELECT ${cols} FROM events
      WHERE product_id = ${f.product} AND position IS NOT NULL AND position > ${f.after}
        ${f.types ? sql`AND type = ANY(${f.types}::text[])` : sql``}
      ORDER BY position LIMIT ${take}`;
  }
  if (f.types) {
    // Each type's events from (type, position) in events_type_idx: `(type, position) > (t, after) AND type <= t`
    // is `type = t AND position > after` spelled as that index's range. Spelled so, the planner cannot take the
    // feed's own order (events_position_key) and filter by type, which it otherwise prefers for any type in a
    // generic plan (it assumes each type is as common as the others) and which reads the whole feed's tail to
    // find a rare type's page.
    return sql`
      SELECT x.* FROM unnest(${f.types}::text[]) AS t(type)
      CROSS JOIN LATERAL (
        SELECT ${cols} FROM events
        WHERE (type, position) > (t.type, ${f.after}::bigint) AND type <= t.type AND position IS NOT NULL
        ORDER BY type, position LIMIT ${take}
      ) x
      ORDER BY x.position LIMIT ${take}`;
  }
  return sql`
    SELECT ${cols} FROM events
    WHERE position IS NOT NULL AND position > ${f.after}
    ORDER BY position LIMIT ${take}`;
}

/** The feed's last position: where a consumer that wants only new events starts. */
export async function feedEnd(sql: Sql): Promise<number> {
  const [row] = await sql<{ last_position: number }[]>`SELECT last_position FROM event_publisher`;
  return row?.last_position ?? 0;
}

// ---------------------------------------------------------------------------
// Background work: the database functions of the events migration

/**
 * Numbers the committed events not yet published (at most `batch`), through
 * events_publish. Returns how many; 0 when none were waiting or another
 * publisher holds the lock. The existence check first costs no row lock (and
 * no transaction id) when there is nothing to publish, which is most ticks.
 */
export async function publishEvents(sql: Sql, batch: number): Promise<number> {
  const [row] = await sql<{ published: number }[]>`
    SELECT CASE WHEN EXISTS (SELECT 1 FROM events WHERE position IS NULL) THEN events_publish(${batch}::int) ELSE 0 END
      AS published`;
  return row!.published;
}

/** Closes open reservations past their expiry (at most `batch`), each writing stock.expired. Returns how many. */
export async function expireReservations(sql: Sql, batch: number): Promise<number> {
  const [row] = await sql<{ closed: number }[]>`SELECT reservations_expire(${batch}::int) AS closed`;
  return row!.closed;
}

/** Deletes published events older than `days` days (at most `batch`, oldest first). Returns how many. */
export async function pruneEvents(sql: Sql, days: number, batch: number): Promise<number> {
  const [row] = await sql<{ pruned: number }[]>`
    SELECT events_prune(make_interval(days => ${days}::int), ${batch}::int) AS pruned`;
  return row!.pruned;
}
