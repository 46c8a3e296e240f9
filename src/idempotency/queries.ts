import type { Sql } from '../db.ts';

export type Scope = { method: string; path: string; key: string };

export type StoredResponse = { status: number; headers: Record<string, string>; body: string };

export type KeyRecord = {
  request_hash: string;
  status: number | null;
  response_headers: Record<string, string> | null;
  response_body: string | null;
};

/** How long a claim may stay unanswered before a retry may take it over (its request must have died). */
const ABANDONED_AFTER = '5 minutes';

/**
 * Claims a key for a new request. True when this request owns it now: the key
 * was new, had expired, or was left unanswered by a request that died.
 */
export async function claimKey(sql: Sql, s: Scope, requestHash: string): Promise<boolean> {
  const rows = await sql`
    INSERT INTO idempotency_keys (method, path, key, request_hash)
    VALUES (${s.method}, ${s.path}, ${s.key}, ${requestHash})
    ON CONFLICT (method, path, key) DO UPDATE
      SET request_hash = EXCLUDED.request_hash, status = NULL, response_headers = NULL, response_body = NULL,
          created_at = now(), expires_at = now() + interval '24 hours'
      WHERE idempotency_keys.expires_at < now()
         OR (idempotency_keys.status IS NULL AND idempotency_keys.created_at < now() - ${ABANDONED_AFTER}::interval)
    RETURNING 1`;
  return rows.length === 1;
}

export async function findKey(sql: Sql, s: Scope): Promise<KeyRecord | undefined> {
  const [row] = await sql<KeyRecord[]>`
    SELECT request_hash, status, response_headers, response_body
    FROM idempotency_keys
    WHERE method = ${s.method} AND path = ${s.path} AND key = ${s.key} AND expires_at >= now()`;
  return row;
}

export async function storeResponse(sql: Sql, s: Scope, r: StoredResponse): Promise<void> {
  await sql`
    UPDATE idempotency_keys
    SET status = ${r.status}, response_headers = ${sql.json(r.headers)}, response_body = ${r.body}
    WHERE method = ${s.method} AND path = ${s.path} AND key = ${s.key}`;
}

/** Gives a key up, so that a retry runs the request again (used when it failed on our side). */
export async function releaseKey(sql: Sql, s: Scope): Promise<void> {
  await sql`DELETE FROM idempotency_keys WHERE method = ${s.method} AND path = ${s.path} AND key = ${s.key} AND status IS NULL`;
}

/** Deletes a batch of expired keys; called as keys are used, so no scheduled job is needed. */
export async function purgeExpiredKeys(sql: Sql, batch = 100): Promise<number> {
  const rows = await sql`
    DELETE FROM idempotency_keys
    WHERE ctid = ANY (ARRAY(
      SELECT ctid FROM idempotency_keys WHERE expires_at < now()
      ORDER BY expires_at LIMIT ${batch} FOR UPDATE SKIP LOCKED))
    RETURNING 1`;
  return rows.length;
}
