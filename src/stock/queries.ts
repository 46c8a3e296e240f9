import { transaction, type Sql } from '../db.ts';
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

/** One adjustment of a batch: an Adjustment of a product, at its index in the request. */
export type BatchAdjustment = Adjustment & { product: number };

/** A batch item the database refused: its index in the request and the error it raised. */
export type BatchRefusal = { index: number; error: unknown };

export type BatchResult =
  | { ok: true; movements: MovementRow[]; products: ProductRow[] }
  | { ok: false; refusals: BatchRefusal[] };

/**
 * Applies a batch of adjustments all or nothing, in one transaction (a
 * savepoint inside an idempotent request's). Each item goes through
 * stock_adjust, which locks the product row, then the level: the items are
 * applied sorted by (product, location, index), so every batch takes its
 * locks in the same global order and two batches cannot deadlock. Items on
 * the same level apply in the order of their index, each seeing the ones
 * before it. Each item runs in its own savepoint so that a refused one does
 * not hide the others: every refused item is reported, and then nothing is
 * kept. Returns the movements in the items' order and the products touched
 * as they are after the batch, by id.
 */
export async function adjustStockBatch(sql: Sql, items: BatchAdjustment[]): Promise<BatchResult> {
  const outcome = await transaction(sql, async (tx) => {
    const [where] = await tx<{ id: number }[]>`SELECT default_location() AS id`;
    const locationOf = (a: BatchAdjustment) => a.location ?? where!.id;
    const order = items
      .map((item, index) => ({ item, index, location: locationOf(item) }))
      .sort((a, b) => a.item.product - b.item.product || a.location - b.location || a.index - b.index);
    const movements: MovementRow[] = new Array(items.length);
    const refusals: BatchRefusal[] = [];
    for (const { item, index, location } of order) {
      try {
        movements[index] = await tx.savepoint(async (sp) => {
          const [row] = await sp<MovementRow[]>`
            SELECT (r.movement).* FROM stock_adjust(${item.product}::bigint, ${location}::bigint, ${item.delta}::int,
                   ${item.reason}, ${item.note}, ${item.reference ?? null}, ${item.expectedOnHand ?? null}::int) AS r`;
          return row!;
        });
      } catch (error) {
        if (!isRefusal(error)) throw error;
        refusals.push({ index, error });
      }
    }
    if (refusals.length > 0) throw new BatchRefused(refusals);
    const ids = [...new Set(items.map((i) => i.product))];
    const products = await tx<ProductRow[]>`
      SELECT ${productColumns(tx)}
      FROM products p JOIN categories c ON c.id = p.category_id
      WHERE p.id = ANY(${ids}::bigint[])
      ORDER BY p.id`;
    return { ok: true as const, movements, products: [...products] };
  }).catch((error) => {
    if (error instanceof BatchRefused) return { ok: false as const, refusals: error.refusals.sort((a, b) => a.index - b.index) };
    throw error;
  });
  return outcome;
}

/**
 * Whether an item's error is the database refusing that item (a stock
 * function's SQLSTATE of class IV, or a value it cannot take: classes 22 and
 * 23), which the batch reports beside the others; anything else ends it.
 */
function isRefusal(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(IV|22|23)/.test(code);
}

/** Thrown inside the batch's transaction to roll it back. */
class BatchRefused extends Error {
  constructor(readonly refusals: BatchRefusal[]) {
    super('batch refused');
  }
}
