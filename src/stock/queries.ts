import type { Sql } from '../db.ts';
import { productColumns, whyMissed, type ProductRow } from '../products/queries.ts';
import type { Reason } from './model.ts';

export type { Reason };

export type MovementRow = {
  id: number;
  product_id: number;
  delta: number;
  reason: Reason;
  note: string | null;
  quantity_after: number;
  created_at: string;
};

/** A movement's columns, written once. */
const MOVEMENT_COLUMNS = [
  'id',
  'product_id',
  'delta',
  'reason',
  'note',
  'quantity_after',
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

export type Adjustment = { delta: number; reason: Reason; note: string | null };

/**
 * Changes an active product's stock and records the movement, in one
 * statement. The UPDATE itself refuses to go below zero, so concurrent
 * adjustments cannot oversell. When no row changed, the same statement says
 * why: the product is missing or archived, or its stock is too low. A product
 * active in the statement's snapshot whose update still missed was changed by
 * a transaction that committed meanwhile: most likely another adjustment took
 * the stock (insufficient, as asking afterwards answered), rarely an archive
 * (also answered insufficient, true at the snapshot; see whyMissed).
 */
export async function adjustStock(
  sql: Sql,
  productId: number,
  a: Adjustment,
): Promise<{ movement: MovementRow; product: ProductRow } | { missed: 'missing' | 'insufficient' }> {
  const [row] = await sql<Record<string, unknown>[]>`
    WITH p AS (
      UPDATE products SET quantity = quantity + ${a.delta}
      WHERE id = ${productId} AND archived_at IS NULL AND quantity + ${a.delta} >= 0
      RETURNING *
    ), m AS (
      INSERT INTO stock_movements (product_id, delta, reason, note, quantity_after)
      SELECT p.id, ${a.delta}, ${a.reason}, ${a.note}, p.quantity FROM p
      RETURNING *
    )
    SELECT ${productColumns(sql)}, ${sql.unsafe(MOVEMENT_AS_PREFIXED)},
           CASE WHEN p.id IS NULL THEN ${whyMissed(sql, productId, 'insufficient')} END AS missed
    FROM (VALUES (1)) AS one (x)
    LEFT JOIN p ON true
    LEFT JOIN categories c ON c.id = p.category_id
    LEFT JOIN m ON true`;
  const { missed, ...written } = row!;
  if (missed) return { missed: missed as 'missing' | 'insufficient' };
  return { product: productOf(written), movement: movementOf(written) };
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
