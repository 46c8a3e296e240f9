import type { Sql } from '../db.ts';

export type LocationRow = {
  id: number;
  code: string;
  name: string;
  is_default: boolean;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
};

export type LevelRow = {
  product_id: number;
  location_id: number;
  location_code: string;
  on_hand: number;
  reserved: number;
  available: number;
  reorder_point: number | null;
  updated_at: string;
};

export type LocationLevelRow = LevelRow & { sku: string; name: string };

const LOCATION_COLUMNS = [
  'id',
  'code',
  'name',
  'is_default',
  'created_at',
  'updated_at',
  'archived_at',
] as const satisfies readonly (keyof LocationRow)[];

/**
 * A level's columns, as LevelRow names them, from a stock_levels row `s` and
 * its location `l`: reserved is what open reservations that have not expired
 * hold (stock_reserved), computed once per row in the LATERAL `r`.
 */
const levelColumns = (sql: Sql) => sql`
  s.product_id, s.location_id, l.code AS location_code, s.on_hand, r.reserved,
  greatest(s.on_hand - r.reserved, 0) AS available, s.reorder_point, s.updated_at`;

/** One page of locations by id, active or archived, after the id `after`; one row more than asked tells that another page follows. */
export async function listLocations(sql: Sql, f: { archived: boolean; limit: number; after?: number }): Promise<LocationRow[]> {
  return sql<LocationRow[]>`
    SELECT ${sql(LOCATION_COLUMNS)} FROM locations
    WHERE ${f.archived ? sql`archived_at IS NOT NULL` : sql`archived_at IS NULL`}
      AND ${f.after === undefined ? sql`true` : sql`id > ${f.after}`}
    ORDER BY id
    LIMIT ${f.limit + 1}`;
}

/** A location, active or archived. */
export async function findLocationById(sql: Sql, id: number): Promise<LocationRow | undefined> {
  const [row] = await sql<LocationRow[]>`SELECT ${sql(LOCATION_COLUMNS)} FROM locations WHERE id = ${id}`;
  return row;
}

/** Inserts a location; a code taken in any case raises the unique violation locations_code_key. */
export async function insertLocation(sql: Sql, code: string, name: string): Promise<LocationRow> {
  const [row] = await sql<LocationRow[]>`
    INSERT INTO locations (code, name) VALUES (${code}, ${name}) RETURNING ${sql(LOCATION_COLUMNS)}`;
  return row!;
}

/** Applies a merge patch to an active location; undefined when no active location has the id. */
export async function updateLocation(
  sql: Sql,
  id: number,
  changes: Partial<Pick<LocationRow, 'code' | 'name'>>,
): Promise<LocationRow | undefined> {
  const columns = Object.keys(changes) as (keyof typeof changes)[];
  // An empty patch matches the row and changes nothing (the trigger leaves updated_at as it is).
  const assignments = columns.length ? sql(changes, columns) : sql`code = code`;
  const [row] = await sql<LocationRow[]>`
    UPDATE locations SET ${assignments} WHERE id = ${id} AND archived_at IS NULL
    RETURNING ${sql(LOCATION_COLUMNS)}`;
  return row;
}

/**
 * Archives a location through the database's location_archive, which locks it
 * and refuses (SQLSTATE IV007) while it is the default location, holds stock or
 * has open reservations, and reports a missing or archived one (IV002). Stock
 * changes lock the location FOR SHARE (stock_lock_level), so an adjustment at
 * this location either commits first and is seen here, or waits and then finds
 * the location archived.
 */
export async function archiveLocation(sql: Sql, id: number): Promise<void> {
  await sql`SELECT id FROM location_archive(${id})`;
}

/**
 * A product's levels at the active locations, by location id; undefined when
 * no product has the id (an archived product's levels are shown).
 */
export async function listProductLevels(sql: Sql, productId: number): Promise<LevelRow[] | undefined> {
  // One statement: the product row (always, when it exists) left-joined to its levels.
  const rows = await sql<(LevelRow & { product: number })[]>`
    SELECT p.id AS product, lv.*
    FROM products p
    LEFT JOIN LATERAL (
      SELECT ${levelColumns(sql)}
      FROM stock_levels s
      JOIN locations l ON l.id = s.location_id AND l.archived_at IS NULL,
      LATERAL (SELECT stock_reserved(s.product_id, s.location_id) AS reserved) r
      WHERE s.product_id = p.id
    ) lv ON true
    WHERE p.id = ${productId}
    ORDER BY lv.location_id`;
  if (rows.length === 0) return undefined;
  return rows.filter((row) => row.location_id !== null).map(({ product: _, ...level }) => level);
}

export type LocationLevelFilter = {
  belowReorderPoint: boolean;
  limit: number;
  /** The last product id of the previous page. */
  after?: number;
};

/**
 * One page of the levels of active products at a location, by product id
 * (read from stock_levels_location_idx), one row more than asked; undefined
 * when no location has the id (an archived location's levels are shown).
 * Below the reorder point: available stock less than a reorder point that is set.
 */
export async function listLocationLevels(
  sql: Sql,
  locationId: number,
  f: LocationLevelFilter,
): Promise<LocationLevelRow[] | undefined> {
  const rows = await sql<(LocationLevelRow & { location: number })[]>`
    SELECT l.id AS location, lv.*
    FROM locations l
    LEFT JOIN LATERAL (
      SELECT ${levelColumns(sql)}, p.sku, p.name
      FROM stock_levels s
      JOIN products p ON p.id = s.product_id AND p.archived_at IS NULL,
      LATERAL (SELECT stock_reserved(s.product_id, s.location_id) AS reserved) r
      WHERE s.location_id = l.id
        AND ${f.after === undefined ? sql`true` : sql`s.product_id > ${f.after}`}
        AND ${f.belowReorderPoint ? sql`s.on_hand - r.reserved < s.reorder_point` : sql`true`}
      ORDER BY s.product_id
      LIMIT ${f.limit + 1}
    ) lv ON true
    WHERE l.id = ${locationId}
    ORDER BY lv.product_id`;
  if (rows.length === 0) return undefined;
  return rows.filter((row) => row.product_id !== null).map(({ location: _, ...level }) => level);
}

/**
 * Sets the reorder point of an active product at an active location, creating
 * the level (with nothing on hand) when there is none; or says which of the two
 * is missing or archived, in the same statement. The product and the location
 * are locked FOR SHARE first, as a stock change locks them (product, location,
 * then level): an archive of either waits for this write or is seen by it.
 */
export async function setReorderPoint(
  sql: Sql,
  productId: number,
  locationId: number,
  reorderPoint: number | null,
): Promise<{ row: LevelRow } | { missed: 'product' | 'location' }> {
  const [result] = await sql<(LevelRow & { missed: 'product' | 'location' | null })[]>`
    WITH target AS (
      SELECT p.id AS product_id, l.id AS location_id, l.code
      FROM products p, locations l
      WHERE p.id = ${productId} AND p.archived_at IS NULL AND l.id = ${locationId} AND l.archived_at IS NULL
      FOR SHARE OF p, l
    ), s AS (
      INSERT INTO stock_levels AS s (product_id, location_id, reorder_point)
      SELECT product_id, location_id, ${reorderPoint}::int FROM target
      ON CONFLICT (product_id, location_id) DO UPDATE SET reorder_point = EXCLUDED.reorder_point, updated_at = now()
      RETURNING s.*
    )
    SELECT s.product_id, s.location_id, target.code AS location_code, s.on_hand, r.reserved,
           greatest(s.on_hand - r.reserved, 0) AS available, s.reorder_point, s.updated_at,
           CASE
             WHEN s.product_id IS NOT NULL THEN NULL
             WHEN NOT EXISTS (SELECT 1 FROM products WHERE id = ${productId} AND archived_at IS NULL) THEN 'product'
             ELSE 'location'
           END AS missed
    FROM (VALUES (1)) AS one (x)
    LEFT JOIN s ON true
    LEFT JOIN target ON true
    LEFT JOIN LATERAL (SELECT stock_reserved(s.product_id, s.location_id) AS reserved) r ON true`;
  const { missed, ...row } = result!;
  return missed ? { missed } : { row };
}
