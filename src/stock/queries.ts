import type { Sql } from '../db.ts';
import { productColumns, type ProductRow } from '../products/queries.ts';
import type { Reason } from './model.ts';

export type { Reason };

export type MovementRow = {
  id: number;
  product_id: number;
  location_id: number;
  delta: number;
  reason: Reason;
  note: string | null;
  quantity_after: number;
  reference: string | null;
  transfer_id: number | null;
  reservation_id: number | null;
  created_at: string;
};

/** A movement's columns, written once. */
export const MOVEMENT_COLUMNS = [
  'id',
  'product_id',
  'location_id',
  'delta',
  'reason',
  'note',
  'quantity_after',
  'reference',
  'transfer_id',
  'reservation_id',
  'created_at',
] as const satisfies readonly (keyof MovementRow)[];

/**
 * A movement row `m`'s columns, each named movement_<column>, beside a product's. Constant text
 * built at load from MOVEMENT_COLUMNS, no values: it goes into SQL through sql.unsafe.
 */
const MOVEMENT_AS_PREFIXED = MOVEMENT_COLUMNS.map((column) => `m.${column} AS movement_${column}`).join(', ');

/** Product and movement columns are apart in an adjustment's row: these are the movement's. */
function movementOf(row: Record<string, unknown>): MovementRow {
  const movement: Record<string, unknown> = {};
  for (const column of MOVEMENT_COLUMNS) movement[column] = row[`movement_${column}`];
  return movement as MovementRow;
}

function productOf(row: Record<string, unknown>): ProductRow {
  const product: Record<string, unknown> = {};
  for (const key in row) if (!key.startsWith('movement_')) product[key] = row[key];
  return product as ProductRow;
}

export type Adjustment = {
  delta: number;
  reason: Reason;
  note: string | null;
  /** The location; the default location when absent. */
  location?: number;
  /** Compare and set: the level's on hand must be exactly this, or nothing is written (IV004). */
  expectedOnHand?: number;
  /** An external reference, such as an order number. */
  reference?: string | null;
};

/**
 * Changes an active product's stock at a location and records the movement,
 * through the database's stock_adjust (db/migrations/20261130000009_stock_locations.sql),
 * which locks the product and the level, refuses to take more than is
 * available (SQLSTATE IV003), checks expected_on_hand (IV004) and reports a
 * missing product (IV001) or location (IV002). One statement: the function
 * returns the movement and the product after it, joined here to its category.
 */
export async function adjustStock(
  sql: Sql,
  productId: number,
  a: Adjustment,
): Promise<{ movement: MovementRow; product: ProductRow }> {
  return readStockChange(
    sql,
    sql`stock_adjust(${productId}, coalesce(${a.location ?? null}::bigint, default_location()), ${a.delta}::int,
                     ${a.reason}, ${a.note}, ${a.reference ?? null}, ${a.expectedOnHand ?? null}::int)`,
  );
}

/**
 * Calls a stock function that returns a stock_change (adjust, fulfil) and reads
 * what it wrote: the movement, and the product after it joined to its category.
 * One statement: the function's result carries both rows, as a statement does
 * not see what a function it calls wrote.
 */
export async function readStockChange(sql: Sql, call: ReturnType<Sql>): Promise<{ movement: MovementRow; product: ProductRow }> {
  const [row] = await sql<Record<string, unknown>[]>`
    SELECT ${productColumns(sql)}, ${sql.unsafe(MOVEMENT_AS_PREFIXED)}
    FROM ${call} AS r,
         LATERAL (SELECT (r.product).*) AS p,
         LATERAL (SELECT (r.movement).*) AS m,
         categories c
    WHERE c.id = p.category_id`;
  return { product: productOf(row!), movement: movementOf(row!) };
}

/** A product's movements, newest first, after the movement id `before` when given. */
export async function listMovements(sql: Sql, productId: number, limit: number, before?: number): Promise<MovementRow[]> {
  return sql<MovementRow[]>`
    SELECT ${sql(MOVEMENT_COLUMNS)}
    FROM stock_movements
    WHERE product_id = ${productId} AND ${before === undefined ? sql`true` : sql`id < ${before}`}
    ORDER BY id DESC
    LIMIT ${limit + 1}`;
}
