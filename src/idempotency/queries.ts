import type { Sql } from '../db.ts';

/** Whose key it is (a fingerprint of the API key, '' without keys), and for which operation. */
export type Scope = { client: string; method: string; path: string; key: string };

export type StoredResponse = { status: number; headers: Record<string, string>; body: string };

export type KeyRecord = {
  request_hash: string;
  status: number;
  response_headers: Record<string, string> | null;
  response_body: string | null;
};

/**
 * Takes the transaction-scoped advisory lock of a key: false when another
 * request with the same key holds it (is running right now). The lock goes
 * with the transaction, so a request that dies, or whose connection drops,
 * leaves nothing behind that would block its retry.
 */
export async function tryLockKey(sql: Sql, lockId: bigint): Promise<boolean> {
  const [row] = await sql<{ locked: boolean }[]>`SELECT pg_try_advisory_xact_lock(${lockId.toString()}::bigint) AS locked`;
  return row!.locked;
}

/** The stored answer of a key, unless it has expired. */
export async function findKey(sql: Sql, s: Scope): Promise<KeyRecord | undefined> {
  const [row] = await sql<KeyRecord[]>`
    SELECT request_hash, status, response_headers, response_body
    FROM idempotency_keys
    WHERE client = ${s.client} AND method = ${s.method} AND path = ${s.path} AND key = ${s.key}
      AND status IS NOT NULL AND expires_at >= now()`;
  return row;
}

/** Stores the answer of a key for 24 hours (replacing an expired one). */
export async function storeResponse(sql: Sql, s: Scope, requestHash: string, r: StoredResponse): Promise<void> {
  await sql`
    INSERT INTO idempotency_keys (client, method, path, key, request_hash, status, response_headers, response_body)
    VALUES (${s.client}, ${s.method}, ${s.path}, ${s.key}, ${requestHash}, ${r.status}, ${sql.json(r.headers)}, ${r.body})
    ON CONFLICT (client, method, path, key) DO UPDATE
      SET request_hash = EXCLUDED.request_hash, status = EXCLUDED.status,
          response_headers = EXCLUDED.response_headers, response_body = EXCLUDED.response_body,
          created_at = now(), expires_at = now() + interval '24 hours'`;
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
