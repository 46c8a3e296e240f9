import { transaction, type Sql } from '../db.ts';
import { MOVEMENT_COLUMNS, type MovementRow } from '../stock/queries.ts';

export type TransferRow = {
  id: number;
  product_id: number;
  from_location_id: number;
  to_location_id: number;
  quantity: number;
  note: string | null;
  created_at: string;
};

/** A movement a transfer wrote. */
export type TransferMovementRow = Omit<MovementRow, 'reason' | 'transfer_id'> & {
  reason: 'transfer_out' | 'transfer_in';
  transfer_id: number;
};

export type NewTransfer = { product: number; from: number; to: number; quantity: number; note: string | null };

/**
 * Moves units between two locations through the database's stock_transfer
 * (db/migrations/20261130000009_stock_locations.sql): it locks the product and
 * both levels in location id order, refuses to take more than `from` has
 * available (SQLSTATE IV003), reports a missing product or location (IV001,
 * IV002), and writes the transfer with its two movements or nothing. The
 * movements are read by a second statement of the same transaction: a
 * statement does not see what a function it calls wrote.
 */
export async function createTransfer(
  sql: Sql,
  t: NewTransfer,
): Promise<{ transfer: TransferRow; movements: TransferMovementRow[] }> {
  return transaction(sql, async (tx) => {
    const [transfer] = await tx<TransferRow[]>`
      SELECT * FROM stock_transfer(${t.product}::bigint, ${t.from}::bigint, ${t.to}::bigint, ${t.quantity}::int, ${t.note})`;
    const movements = await tx<TransferMovementRow[]>`
      SELECT ${tx(MOVEMENT_COLUMNS)} FROM stock_movements WHERE transfer_id = ${transfer!.id} ORDER BY id`;
    return { transfer: transfer!, movements };
  });
}

export type TransferFilter = { product?: number; location?: number; limit: number; before?: number };

/** Transfers, newest first, of a product and/or from or to a location, after the transfer id `before` when given. */
export async function listTransfers(sql: Sql, f: TransferFilter): Promise<TransferRow[]> {
  return sql<TransferRow[]>`
    SELECT id, product_id, from_location_id, to_location_id, quantity, note, created_at
    FROM transfers
    WHERE true
      ${f.product === undefined ? sql`` : sql`AND product_id = ${f.product}`}
      ${f.location === undefined ? sql`` : sql`AND (from_location_id = ${f.location} OR to_location_id = ${f.location})`}
      ${f.before === undefined ? sql`` : sql`AND id < ${f.before}`}
    ORDER BY id DESC
    LIMIT ${f.limit + 1}`;
}
