import type { Sql } from '../db.ts';
import { SECRET_GRACE_S } from './model.ts';
import type { FeedEvent } from './signing.ts';

/** A subscription as the API shows it (never its secrets). */
export type WebhookRow = {
  id: number;
  url: string;
  event_types: string[];
  description: string | null;
  enabled: boolean;
  disabled_reason: string | null;
  position: number;
  failures: number;
  failing_since: string | null;
  last_error: string | null;
  next_attempt_at: string | null;
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
};

export type DeliveryRow = {
  id: number;
  webhook_id: number;
  event_id: number;
  event_position: number;
  attempt: number;
  status_code: number | null;
  error: string | null;
  latency_ms: number;
  ok: boolean;
  attempted_at: string;
};

/**
 * A webhooks row `w` as the API shows it: the next attempt only while it is
 * failing, the rotated-out secret's expiry only while it still signs. Constant text.
 */
const WEBHOOK_SELECT = `
  w.id, w.url, w.event_types, w.description, w.enabled, w.disabled_reason, w.position, w.failures,
  w.failing_since, w.last_error,
  CASE WHEN w.enabled AND w.failures > 0 THEN w.next_attempt_at END AS next_attempt_at,
  CASE WHEN w.previous_secret_until > now() THEN w.previous_secret_until END AS previous_secret_expires_at,
  w.created_at, w.updated_at`;
const webhookColumns = (sql: Sql) => sql.unsafe(WEBHOOK_SELECT);

const DELIVERY_COLUMNS = [
  'id',
  'webhook_id',
  'event_id',
  'event_position',
  'attempt',
  'status_code',
  'error',
  'latency_ms',
  'ok',
  'attempted_at',
] as const satisfies readonly (keyof DeliveryRow)[];

export type NewWebhook = { url: string; eventTypes: string[]; description: string | null; enabled: boolean; secret: string };

/**
 * Adds a subscription that starts after the last published event: it receives
 * the events published from now on.
 */
export async function insertWebhook(sql: Sql, w: NewWebhook): Promise<WebhookRow & { secret: string }> {
  const [row] = await sql<(WebhookRow & { secret: string })[]>`
    INSERT INTO webhooks AS w (url, event_types, description, enabled, secret, position)
    SELECT ${w.url}, ${w.eventTypes}::text[], ${w.description}, ${w.enabled}, ${w.secret}, p.last_position
    FROM event_publisher p
    RETURNING ${webhookColumns(sql)}, w.secret`;
  return row!;
}

export async function findWebhook(sql: Sql, id: number): Promise<WebhookRow | undefined> {
  const [row] = await sql<WebhookRow[]>`SELECT ${webhookColumns(sql)} FROM webhooks w WHERE w.id = ${id}`;
  return row;
}

/** Subscriptions by id, after the id `after`; one row more than asked tells that another page follows. */
export async function listWebhooks(sql: Sql, f: { limit: number; after?: number }): Promise<WebhookRow[]> {
  return sql<WebhookRow[]>`
    SELECT ${webhookColumns(sql)} FROM webhooks w
    WHERE ${f.after === undefined ? sql`true` : sql`w.id > ${f.after}`}
    ORDER BY w.id
    LIMIT ${f.limit + 1}`;
}

export type WebhookChanges = {
  url?: string;
  eventTypes?: string[];
  description?: string | null;
  enabled?: boolean;
};

/**
 * Applies a merge patch; undefined when there is no such subscription. A new
 * URL, or `enabled: true`, clears the failure state (and the reason it was
 * disabled), so the next delivery is tried at once.
 */
export async function updateWebhook(sql: Sql, id: number, c: WebhookChanges): Promise<WebhookRow | undefined> {
  const fresh = c.url !== undefined || c.enabled === true;
  const [row] = await sql<WebhookRow[]>`
    UPDATE webhooks w SET
      url = coalesce(${c.url ?? null}::text, w.url),
      event_types = coalesce(${c.eventTypes ?? null}::text[], w.event_types),
      description = CASE WHEN ${c.description !== undefined} THEN ${c.description ?? null}::text ELSE w.description END,
      enabled = coalesce(${c.enabled ?? null}::boolean, w.enabled),
      failures = CASE WHEN ${fresh} THEN 0 ELSE w.failures END,
      failing_since = CASE WHEN ${fresh} THEN NULL ELSE w.failing_since END,
      last_error = CASE WHEN ${fresh} THEN NULL ELSE w.last_error END,
      disabled_reason = CASE WHEN ${fresh} OR ${c.enabled === false} THEN NULL ELSE w.disabled_reason END,
      next_attempt_at = CASE WHEN ${fresh} THEN now() ELSE w.next_attempt_at END,
      updated_at = now()
    WHERE w.id = ${id}
    RETURNING ${webhookColumns(sql)}`;
  return row;
}

/** Deletes a subscription and its delivery history; false when there was none. */
export async function deleteWebhook(sql: Sql, id: number): Promise<boolean> {
  const rows = await sql`DELETE FROM webhooks WHERE id = ${id} RETURNING id`;
  return rows.length > 0;
}

/**
 * Gives a subscription a new secret; the one it had keeps signing beside it for
 * SECRET_GRACE_S (one rotated out before that is dropped at once).
 */
export async function rotateSecret(sql: Sql, id: number, secret: string): Promise<(WebhookRow & { secret: string }) | undefined> {
  const [row] = await sql<(WebhookRow & { secret: string })[]>`
    UPDATE webhooks w SET
      previous_secret = w.secret,
      previous_secret_until = now() + make_interval(secs => ${SECRET_GRACE_S}),
      secret = ${secret},
      updated_at = now()
    WHERE w.id = ${id}
    RETURNING ${webhookColumns(sql)}, w.secret`;
  return row;
}

/**
 * Restarts a subscription's deliveries after the position `after`, at once and
 * with its failure state cleared. A worker delivering it meanwhile loses its
 * lease: it writes nothing more. `after` must be at most the last published
 * position: `missing` and `last` say which refusal applies otherwise.
 */
export async function replayWebhook(
  sql: Sql,
  id: number,
  after: number,
): Promise<{ row: WebhookRow } | { missing: true } | { last: number }> {
  const [result] = await sql<(Partial<WebhookRow> & { found: boolean; last: number })[]>`
    WITH last AS (SELECT last_position FROM event_publisher),
    replayed AS (
      UPDATE webhooks w SET
        position = ${after}, failures = 0, failing_since = NULL, last_error = NULL, next_attempt_at = now(),
        lease_until = NULL, lease_token = NULL, lease_owner = NULL, updated_at = now()
      FROM last
      WHERE w.id = ${id} AND ${after} <= last.last_position
      RETURNING ${webhookColumns(sql)}
    )
    SELECT replayed.*, EXISTS (SELECT 1 FROM webhooks WHERE id = ${id}) AS found, last.last_position AS last
    FROM last LEFT JOIN replayed ON true`;
  const { found, last, ...row } = result!;
  if (!found) return { missing: true };
  if (row.id === null || row.id === undefined) return { last };
  return { row: row as WebhookRow };
}

/**
 * One page of a subscription's attempts, newest first, before the attempt id
 * `before`; one row more than asked tells that another page follows.
 * Undefined when there is no such subscription.
 */
export async function listDeliveries(
  sql: Sql,
  webhookId: number,
  f: { limit: number; before?: number },
): Promise<DeliveryRow[] | undefined> {
  const rows = await sql<(DeliveryRow & { webhook: number })[]>`
    SELECT w.id AS webhook, d.*
    FROM webhooks w
    LEFT JOIN LATERAL (
      SELECT ${sql(DELIVERY_COLUMNS)} FROM webhook_deliveries
      WHERE webhook_id = w.id AND ${f.before === undefined ? sql`true` : sql`id < ${f.before}`}
      ORDER BY id DESC
      LIMIT ${f.limit + 1}
    ) d ON true
    WHERE w.id = ${webhookId}
    ORDER BY d.id DESC`;
  if (rows.length === 0) return undefined;
  return rows.filter((row) => row.id !== null).map(({ webhook: _, ...delivery }) => delivery);
}

// ---------------------------------------------------------------- delivery (src/webhooks/deliverer.ts)

/** A subscription a worker holds: what it needs to deliver, and the token that proves its lease. */
export type Lease = {
  id: number;
  url: string;
  event_types: string[];
  position: number;
  failures: number;
  enabled: boolean;
  /** The current secret, then one still in its grace period. */
  secrets: string[];
  token: string;
};

/** The fields that state a lease: the subscription's current receiver and secrets. */
const LEASE_RETURNING = `
  w.id, w.url, w.event_types, w.position, w.failures, w.enabled, w.lease_token AS token,
  array_remove(ARRAY[w.secret, CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END], NULL) AS secrets`;
const leaseColumns = (sql: Sql) => sql.unsafe(LEASE_RETURNING);

const seconds = (ms: number) => ms / 1000;

/**
 * The published events of type `type` after position `after`, in position
 * order, read from events_type_idx (type, position) whatever the planner
 * thinks of the type: a row comparison that starts the index scan at
 * (type, after), and an upper bound that ends it with the type. (With
 * `type = $1` the planner may read events_position_key instead and filter by
 * type, which reads past every other event when the type is rare.)
 */
const ofTypeAfter = (sql: Sql, type: ReturnType<Sql>, after: ReturnType<Sql>) => sql`
  (e.type, e.position) > (${type}, ${after}) AND e.type <= ${type} AND e.position IS NOT NULL`;

/**
 * Claims up to `limit` subscriptions that have something to deliver: enabled,
 * due, not leased (or their lease expired), with a published event of their
 * types after their position (its first position is looked up in an index:
 * a plain EXISTS may be planned as a scan of the events). Rows another
 * worker is claiming are skipped (FOR UPDATE SKIP LOCKED), and the lease is
 * set in the same statement, so two workers never hold one subscription. One
 * statement: it commits at once.
 */
export async function claimDue(sql: Sql, o: { limit: number; leaseMs: number; owner: string }): Promise<Lease[]> {
  return sql<Lease[]>`
    WITH due AS (
      SELECT w.id FROM webhooks w
      WHERE w.enabled AND w.next_attempt_at <= now()
        AND (w.lease_until IS NULL OR w.lease_until < now())
        AND CASE WHEN cardinality(w.event_types) = 0
              THEN (SELECT e.position FROM events e WHERE e.position > w.position ORDER BY e.position LIMIT 1)
              ELSE (SELECT min(x.position) FROM unnest(w.event_types) AS t (type)
                    CROSS JOIN LATERAL (
                      SELECT e.position FROM events e WHERE ${ofTypeAfter(sql, sql`t.type`, sql`w.position`)}
                      ORDER BY e.type, e.position LIMIT 1
                    ) x)
            END IS NOT NULL
      ORDER BY w.next_attempt_at, w.id
      LIMIT ${o.limit}
      FOR UPDATE OF w SKIP LOCKED
    )
    UPDATE webhooks w SET
      lease_until = now() + make_interval(secs => ${seconds(o.leaseMs)}),
      lease_token = gen_random_uuid(),
      lease_owner = ${o.owner}
    FROM due
    WHERE w.id = due.id
    RETURNING ${leaseColumns(sql)}`;
}

/**
 * The next published events of `types` (every type when empty) after
 * `position`, in position order. With types, each type's index range is read
 * on its own (events_type_idx), so a subscription to a rare type never reads
 * past the frequent ones.
 */
export async function nextEvents(sql: Sql, o: { after: number; types: string[]; limit: number }): Promise<FeedEvent[]> {
  if (o.types.length === 0) {
    return sql<FeedEvent[]>`
      SELECT id, position, type, product_id, data, occurred_at FROM events
      WHERE position > ${o.after}
      ORDER BY position
      LIMIT ${o.limit}`;
  }
  return sql<FeedEvent[]>`
    SELECT e.id, e.position, e.type, e.product_id, e.data, e.occurred_at
    FROM unnest(${o.types}::text[]) AS t (type)
    CROSS JOIN LATERAL (
      SELECT * FROM events e WHERE ${ofTypeAfter(sql, sql`t.type`, sql`${o.after}::bigint`)}
      ORDER BY e.type, e.position LIMIT ${o.limit}
    ) e
    ORDER BY e.position
    LIMIT ${o.limit}`;
}

/** One attempt at delivering an event. */
export type Attempt = {
  event: Pick<FeedEvent, 'id' | 'position'>;
  attempt: number;
  statusCode: number | null;
  error: string | null;
  latencyMs: number;
};

/** The attempt's row, written only while the subscription exists (a DELETE may have removed it). */
const insertAttempt = (sql: Sql, webhookId: number, a: Attempt, ok: boolean) => sql`
  INSERT INTO webhook_deliveries (webhook_id, event_id, event_position, attempt, status_code, error, latency_ms, ok)
  SELECT ${webhookId}::bigint, ${a.event.id}::bigint, ${a.event.position}::bigint, ${a.attempt}::int,
         ${a.statusCode}::int, ${a.error}::text, ${a.latencyMs}::int, ${ok}::boolean
  WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ${webhookId})`;

/**
 * Records a delivered event: the attempt, and, while the lease is still ours,
 * the subscription's position moved past it, its failures cleared and the
 * lease renewed. Returns the lease as it now stands (a PATCH or a rotation
 * may have changed the receiver, its types or its secrets meanwhile) with
 * `enabled`; undefined when the lease was lost (replayed, deleted, or expired
 * and taken by another worker).
 */
export async function recordSuccess(
  sql: Sql,
  lease: Pick<Lease, 'id' | 'token'>,
  a: Attempt,
  leaseMs: number,
): Promise<Lease | undefined> {
  const [row] = await sql<Lease[]>`
    WITH attempt AS (${insertAttempt(sql, lease.id, a, true)})
    UPDATE webhooks w SET
      position = ${a.event.position}, failures = 0, failing_since = NULL, last_error = NULL,
      lease_until = now() + make_interval(secs => ${seconds(leaseMs)})
    WHERE w.id = ${lease.id} AND w.lease_token = ${lease.token}::uuid
    RETURNING ${leaseColumns(sql)}`;
  return row;
}

/**
 * Records a failed attempt and, while the lease is still ours, the failure:
 * one more in a row, the next attempt in `retryMs`, the lease released. When
 * the subscription has been failing for `giveUpAfterS` or longer, it is
 * disabled instead, with the reason: since when, how many attempts, the last
 * error. Returns whether it is still enabled (undefined when the lease was lost).
 */
export async function recordFailure(
  sql: Sql,
  lease: Pick<Lease, 'id' | 'token'>,
  a: Attempt,
  o: { retryMs: number; giveUpAfterS: number },
): Promise<{ enabled: boolean; failures: number } | undefined> {
  const error = a.error ?? `status ${a.statusCode}`;
  const [row] = await sql<{ enabled: boolean; failures: number }[]>`
    WITH attempt AS (${insertAttempt(sql, lease.id, a, false)}),
    state AS (
      SELECT coalesce(failing_since, now()) AS since,
             coalesce(failing_since, now()) <= now() - make_interval(secs => ${o.giveUpAfterS}) AS give_up
      FROM webhooks WHERE id = ${lease.id}
    )
    UPDATE webhooks w SET
      failures = w.failures + 1,
      failing_since = state.since,
      last_error = ${error},
      next_attempt_at = now() + make_interval(secs => ${seconds(o.retryMs)}),
      enabled = w.enabled AND NOT state.give_up,
      disabled_reason = CASE WHEN state.give_up
        THEN format('delivery failed since %s (%s attempts in a row); the last error: %s',
                    to_char(state.since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), w.failures + 1, ${error}::text)
        ELSE w.disabled_reason END,
      lease_until = NULL, lease_token = NULL, lease_owner = NULL
    FROM state
    WHERE w.id = ${lease.id} AND w.lease_token = ${lease.token}::uuid
    RETURNING w.enabled, w.failures`;
  return row;
}

/** Gives a lease back, due again at once (behind the subscriptions that waited longer). */
export async function releaseLease(sql: Sql, lease: Pick<Lease, 'id' | 'token'>): Promise<void> {
  await sql`
    UPDATE webhooks SET lease_until = NULL, lease_token = NULL, lease_owner = NULL, next_attempt_at = now()
    WHERE id = ${lease.id} AND lease_token = ${lease.token}::uuid`;
}

/** Deletes delivery attempts older than `days` days, at most `batch`; how many. */
export async function pruneDeliveries(sql: Sql, days: number, batch: number): Promise<number> {
  const [row] = await sql<{ pruned: number }[]>`
    SELECT webhook_deliveries_prune(make_interval(days => ${days}::int), ${batch}::int) AS pruned`;
  return row!.pruned;
}
