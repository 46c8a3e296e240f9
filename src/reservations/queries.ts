import type { Sql } from '../db.ts';
import type { ProductRow } from '../products/queries.ts';
import { readStockChange, type MovementRow } from '../stock/queries.ts';
import type { ReservationState } from './model.ts';

export type ReservationRow = {
  id: number;
  product_id: number;
  location_id: number;
  quantity: number;
  expires_at: string;
  reference: string | null;
  state: ReservationState;
  created_at: string;
  closed_at: string | null;
};

/**
 * A reservation row `r` as the API shows it. The functions close a reservation
 * past its expiry lazily (state 'expired', closed at its expiry), and it stops
 * counting at that instant: shown here as it will be closed. Constant text.
 */
const RESERVATION_SELECT = `
  r.id, r.product_id, r.location_id, r.quantity, r.expires_at, r.reference,
  CASE WHEN r.state = 'open' AND r.expires_at <= now() THEN 'expired' ELSE r.state END AS state,
  r.created_at,
  CASE WHEN r.state = 'open' AND r.expires_at <= now() THEN r.expires_at ELSE r.closed_at END AS closed_at`;
// sql.unsafe: constant SQL text written once here (no value reaches it), so that every
// statement shows a reservation alike; a tagged template cannot take SQL text not written in it.
const reservationColumns = (sql: Sql) => sql.unsafe(RESERVATION_SELECT);

export type NewReservation = {
  product: number;
  /** The default location when absent. */
  location?: number;
  quantity: number;
  /** Exactly one of these: an instant, or seconds from now (the database's now). */
  expiresAt?: string;
  expiresInSeconds?: number;
  reference: string | null;
};

/**
 * Holds available units of a level through the database's stock_reserve
 * (db/migrations/20261130000009_stock_locations.sql), which locks the product
 * and the level, closes what has expired there, and refuses more than is
 * available (SQLSTATE IV003), a missing product or location (IV001, IV002)
 * or an expiry not in the future (22023).
 */
export async function reserveStock(sql: Sql, n: NewReservation): Promise<ReservationRow> {
  const expiresAt =
    n.expiresAt !== undefined
      ? sql`${n.expiresAt}::timestamptz`
      : sql`now() + make_interval(secs => ${n.expiresInSeconds ?? null}::int)`;
  const [row] = await sql<ReservationRow[]>`
    SELECT ${reservationColumns(sql)}
    FROM stock_reserve(${n.product}::bigint, coalesce(${n.location ?? null}::bigint, default_location()),
                       ${n.quantity}::int, ${expiresAt}, ${n.reference}) AS r`;
  return row!;
}

export async function findReservation(sql: Sql, id: number): Promise<ReservationRow | undefined> {
  const [row] = await sql<ReservationRow[]>`SELECT ${reservationColumns(sql)} FROM reservations r WHERE r.id = ${id}`;
  return row;
}

/** Releases an open reservation through stock_release: IV005 when there is none, IV006 when it is not open. */
export async function releaseReservation(sql: Sql, id: number): Promise<ReservationRow> {
  const [row] = await sql<ReservationRow[]>`SELECT ${reservationColumns(sql)} FROM stock_release(${id}::bigint) AS r`;
  return row!;
}

/**
 * Sells a reservation's whole quantity through stock_fulfil: a 'sold' movement
 * with its reference and reservation id, and the product after it, in one
 * statement; IV005 or IV006 when there is no open one.
 */
export async function fulfilReservation(
  sql: Sql,
  id: number,
  note: string | null,
): Promise<{ movement: MovementRow; product: ProductRow }> {
  return readStockChange(sql, sql`stock_fulfil(${id}::bigint, ${note})`);
}

export type ReservationFilter = {
  product?: number;
  location?: number;
  reference?: string;
  /** As shown: `open` is open and unexpired, `expired` includes open ones past their expiry. */
  state?: ReservationState;
  limit: number;
  before?: number;
};

function stateCondition(sql: Sql, state: ReservationState | undefined) {
  switch (state) {
    case undefined:
      return sql``;
    case 'open':
      return sql`AND r.state = 'open' AND r.expires_at > now()`;
    case 'expired':
      return sql`AND (r.state = 'expired' OR (r.state = 'open' AND r.expires_at <= now()))`;
    default:
      return sql`AND r.state = ${state}`;
  }
}

/** Reservations, newest first, filtered, after the reservation id `before` when given. */
export async function listReservations(sql: Sql, f: ReservationFilter): Promise<ReservationRow[]> {
  return sql<ReservationRow[]>`
    SELECT ${reservationColumns(sql)}
    FROM reservations r
    WHERE true
      ${f.product === undefined ? sql`` : sql`AND r.product_id = ${f.product}`}
      ${f.location === undefined ? sql`` : sql`AND r.location_id = ${f.location}`}
      ${f.reference === undefined ? sql`` : sql`AND r.reference = ${f.reference}`}
      ${stateCondition(sql, f.state)}
      ${f.before === undefined ? sql`` : sql`AND r.id < ${f.before}`}
    ORDER BY r.id DESC
    LIMIT ${f.limit + 1}`;
}
