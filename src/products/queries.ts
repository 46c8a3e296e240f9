import type { Sql } from '../db.ts';
import type { Keyset } from '../http/cursor.ts';
import { INITIAL_MOVEMENT, type ProductRow, type ProductSort } from './model.ts';

export type { Keyset, ProductRow };

export type NewProduct = {
  sku: string;
  name: string;
  description: string | null;
  price: string;
  quantity: number;
  category: string;
};

export type ProductChanges = Partial<{
  sku: string;
  name: string;
  description: string | null;
  price: string;
  category_id: number;
}>;

/**
 * A product in a listing, already as the API shows it: the price a JSON number
 * (numeric(10,2) as float8 is exact: at most 10 significant digits, and
 * PostgreSQL writes the shortest text that reads back the same), no version.
 */
export type ProductListRow = Omit<ProductRow, 'price' | 'version'> & { price: number };

export type ProductFilter = {
  category?: string;
  sku?: string;
  archived: boolean;
  sort: ProductSort;
  limit: number;
  after?: Keyset;
};

/**
 * A product's columns, written once: every statement selects them, named as
 * ProductRow names them, from a products row `p` and its category `c`.
 */
const PRODUCT_COLUMNS = [
  'id',
  'sku',
  'name',
  'description',
  'price',
  'quantity',
  'available',
  'category',
  'created_at',
  'updated_at',
  'version',
] as const satisfies readonly (keyof ProductRow)[];

/**
 * What can be sold now, over all locations: the quantity on hand less what open,
 * unexpired reservations hold (never below 0). Only a product whose
 * reserved_until is still ahead can have such a reservation (it is never earlier
 * than any open reservation's expiry, and at most about an hour later:
 * db/migrations/20261130000011_products_reserved_until.sql); only for it are
 * reservations read, by product_reserved (one probe of reservations_open_idx).
 * The others, most products, are their quantity. product_reserved is a PL/pgSQL
 * function, which PostgreSQL never inlines: a statement none of whose rows take
 * that branch does not even open reservations, which a subquery in its place
 * would on every execution (bench/available-cost.ts measures the three forms).
 */
export const AVAILABLE_SQL = `(CASE WHEN p.reserved_until > now() THEN greatest(p.quantity - product_reserved(p.id), 0)
  ELSE p.quantity END)::int AS available`;

/** One column's SQL; a listing has its price as float8 (see ProductListRow). */
const columnSql = (column: (typeof PRODUCT_COLUMNS)[number], listing: boolean) =>
  column === 'category'
    ? 'c.name AS category'
    : column === 'available'
      ? AVAILABLE_SQL
      : column === 'price' && listing
        ? 'p.price::float8 AS price'
        : `p.${column}`;

const PRODUCT_SELECT = PRODUCT_COLUMNS.map((column) => columnSql(column, false)).join(', ');
const LISTING_SELECT = PRODUCT_COLUMNS.filter((column) => column !== 'version')
  .map((column) => columnSql(column, true))
  .join(', ');

// sql.unsafe: the column lists are SQL text built once, at load, from the constant
// PRODUCT_COLUMNS (no value ever reaches them), so that both lists come from one
// declaration; a tagged template cannot take SQL text that is not written in it.
/** The product as ProductRow: from `p` (products) and `c` (its category). Constant text, no values. */
export const productColumns = (sql: Sql) => sql.unsafe(PRODUCT_SELECT);
/** The product as ProductListRow: from `p` (products) and `c` (its category). */
const listingColumns = (sql: Sql) => sql.unsafe(LISTING_SELECT);

/**
 * Inserts a product into an existing category, with the 'initial' stock
 * movement for its quantity, in one statement. Returns undefined when the
 * category does not exist (nothing is written then). The category is locked
 * FOR KEY SHARE first: a concurrent DELETE of it either committed before
 * (then it is not found here) or waits for this insert (then finds the product).
 */
export async function insertProduct(sql: Sql, n: NewProduct): Promise<ProductRow | undefined> {
  const [row] = await sql<ProductRow[]>`
    WITH c AS (
      SELECT id, name FROM categories WHERE lower(name) = lower(${n.category}) FOR KEY SHARE
    ), p AS (
      INSERT INTO products (sku, name, description, price, quantity, category_id)
      SELECT ${n.sku}, ${n.name}, ${n.description}, ${n.price}, ${n.quantity}, c.id FROM c
      RETURNING *
    ), initial AS (
      INSERT INTO stock_movements (product_id, delta, reason, quantity_after)
      SELECT p.id, p.quantity, ${INITIAL_MOVEMENT}, p.quantity FROM p WHERE p.quantity > 0
    )
    SELECT ${productColumns(sql)} FROM p JOIN c ON c.id = p.category_id`;
  return row;
}

/** An active (not archived) product. */
export async function findProductById(sql: Sql, id: number): Promise<ProductRow | undefined> {
  const [row] = await sql<ProductRow[]>`
    SELECT ${productColumns(sql)}
    FROM products p JOIN categories c ON c.id = p.category_id
    WHERE p.id = ${id} AND p.archived_at IS NULL`;
  return row;
}

/** Whether a product with this id exists, and whether it is archived. */
export async function productState(sql: Sql, id: number): Promise<'active' | 'archived' | 'missing'> {
  const [row] = await sql<{ archived: boolean }[]>`
    SELECT archived_at IS NOT NULL AS archived FROM products WHERE id = ${id}`;
  return !row ? 'missing' : row.archived ? 'archived' : 'active';
}

/**
 * Why a write to the active product `id` matched no row, as an expression of
 * the write's own statement: 'missing' when no active product has this id,
 * else `whenActive` (the write's own condition failed). Put it in a CASE
 * branch taken only on a miss: uncorrelated, it is an InitPlan, run only
 * when the branch needs it, so a write that matched reads nothing more.
 *
 * It reads the statement's snapshot (READ COMMITTED), while the write sees
 * the latest committed version of the row. The two disagree only when a
 * transaction that committed after the snapshot changed the row. If that
 * transaction archived it, the write misses and the snapshot still shows the
 * product active: the answer is `whenActive` (412 stale or 409 insufficient)
 * where asking afterwards, as the service used to, said 404. We keep
 * `whenActive`: it is what asking afterwards said in the common race (another
 * edit, another stock change), it was true at the snapshot, and the client's
 * next request sees the archive. Asking afterwards could be wrong the other
 * way too (a product archived and restored in between).
 */
export const whyMissed = (sql: Sql, id: number, whenActive: 'stale' | 'insufficient') => sql`
  coalesce((SELECT ${whenActive}::text FROM products s WHERE s.id = ${id} AND s.archived_at IS NULL), 'missing')`;

/** A write of one active product that matched no row: no active product has the id, or its version is another. */
export type Missed = { missed: 'missing' | 'stale' };

/**
 * Applies a merge patch to an active product, only when its version is one of
 * `expectedVersions` (when given): the product as changed, or why nothing was
 * changed, decided in the same statement.
 */
export async function updateProduct(
  sql: Sql,
  id: number,
  changes: ProductChanges,
  expectedVersions?: number[],
): Promise<{ row: ProductRow } | Missed> {
  const columns = Object.keys(changes) as (keyof ProductChanges)[];
  // An empty patch still matches the row (and its version) but writes nothing.
  const assignments = columns.length ? sql(changes, columns) : sql`version = version`;
  const [result] = await sql<(ProductRow & { missed: Missed['missed'] | null })[]>`
    WITH p AS (
      UPDATE products SET ${assignments}
      WHERE id = ${id} AND archived_at IS NULL
        AND ${expectedVersions === undefined ? sql`true` : sql`version = ANY(${expectedVersions}::int[])`}
      RETURNING *
    )
    SELECT ${productColumns(sql)}, CASE WHEN p.id IS NULL THEN ${whyMissed(sql, id, 'stale')} END AS missed
    FROM (VALUES (1)) AS one (x)
    LEFT JOIN p ON true
    LEFT JOIN categories c ON c.id = p.category_id`;
  const { missed, ...row } = result!;
  return missed ? { missed } : { row };
}

/** Archives an active product (only at one of `expectedVersions` when given), or says why it did not. */
export async function archiveProduct(sql: Sql, id: number, expectedVersions?: number[]): Promise<'archived' | Missed['missed']> {
  const [result] = await sql<{ outcome: 'archived' | Missed['missed'] }[]>`
    WITH p AS (
      UPDATE products SET archived_at = now()
      WHERE id = ${id} AND archived_at IS NULL
        AND ${expectedVersions === undefined ? sql`true` : sql`version = ANY(${expectedVersions}::int[])`}
      RETURNING id
    )
    SELECT CASE WHEN p.id IS NULL THEN ${whyMissed(sql, id, 'stale')} ELSE 'archived' END AS outcome
    FROM (VALUES (1)) AS one (x)
    LEFT JOIN p ON true`;
  return result!.outcome;
}

/** Brings an archived product back; its name and SKU must still be free (unique violation otherwise). */
export async function restoreProduct(sql: Sql, id: number): Promise<ProductRow | undefined> {
  const [row] = await sql<ProductRow[]>`
    WITH p AS (
      UPDATE products SET archived_at = NULL WHERE id = ${id} AND archived_at IS NOT NULL RETURNING *
    )
    SELECT ${productColumns(sql)} FROM p LEFT JOIN categories c ON c.id = p.category_id`;
  return row;
}

/** A listing's condition on products `p`: in the category named (case-insensitively), or any. */
const inCategory = (sql: Sql, category: string | undefined) =>
  category === undefined ? sql`true` : sql`p.category_id = (SELECT id FROM categories WHERE lower(name) = lower(${category}))`;

/** A listing's condition on products `p`: archived ones, or active ones. */
const archivedOrActive = (sql: Sql, archived: boolean) =>
  archived ? sql`p.archived_at IS NOT NULL` : sql`p.archived_at IS NULL`;

/**
 * One page of products in keyset order. Each sort has a partial index over
 * active products (and one led by category_id for the filtered listing); the
 * page is cut from it in an inner query that reads only its own rows, and only
 * then joined to categories and put back in order (a sort of at most one page).
 * Joined any earlier, a bad row estimate could turn the page into a hash join
 * and a sort of every matching row. Fetches one row more than asked to tell
 * whether another page follows.
 */
export async function listProducts(sql: Sql, f: ProductFilter): Promise<ProductListRow[]> {
  const a = f.after;
  const byCategory = inCategory(sql, f.category);
  const bySku = f.sku === undefined ? sql`true` : sql`lower(p.sku) = lower(${f.sku})`;
  const archived = archivedOrActive(sql, f.archived);
  const page = {
    // Active names are unique, so the name alone orders them; archived ones may repeat a name.
    name: f.archived
      ? { after: a ? sql`(lower(p.name), p.id) > (lower(${a.key}), ${a.id})` : sql`true`, order: sql`lower(p.name), p.id` }
      : { after: a ? sql`lower(p.name) > lower(${a.key})` : sql`true`, order: sql`lower(p.name)` },
    '-name': f.archived
      ? {
          after: a ? sql`(lower(p.name), p.id) < (lower(${a.key}), ${a.id})` : sql`true`,
          order: sql`lower(p.name) DESC, p.id DESC`,
        }
      : { after: a ? sql`lower(p.name) < lower(${a.key})` : sql`true`, order: sql`lower(p.name) DESC` },
    price: {
      after: a ? sql`(p.price, p.id) > (${a.key}::numeric, ${a.id})` : sql`true`,
      order: sql`p.price, p.id`,
    },
    '-price': {
      after: a ? sql`(p.price, p.id) < (${a.key}::numeric, ${a.id})` : sql`true`,
      order: sql`p.price DESC, p.id DESC`,
    },
    created_at: {
      after: a ? sql`(p.created_at, p.id) > (${a.key}::timestamptz, ${a.id})` : sql`true`,
      order: sql`p.created_at, p.id`,
    },
    '-created_at': {
      after: a ? sql`(p.created_at, p.id) < (${a.key}::timestamptz, ${a.id})` : sql`true`,
      order: sql`p.created_at DESC, p.id DESC`,
    },
  }[f.sort];
  return sql<ProductListRow[]>`
    SELECT ${listingColumns(sql)}
    FROM (
      SELECT * FROM products p
      WHERE ${archived} AND ${byCategory} AND ${bySku} AND ${page.after}
      ORDER BY ${page.order}
      LIMIT ${f.limit + 1}
    ) p
    JOIN categories c ON c.id = p.category_id
    ORDER BY ${page.order}`;
}

/** A product found by a search, with its relevance (higher first; the key of the search's pages). */
export type ProductSearchRow = ProductListRow & { rank: number };

export type ProductSearch = {
  /** The search text, normalized (normalizeSearchText). */
  text: string;
  /** The text as a SKU fragment, in lower case (skuSearchText); null when it cannot be one. */
  sku: string | null;
  category?: string;
  archived: boolean;
  limit: number;
  /** The last row of the previous page: its rank (float8 as text) and id. */
  after?: Keyset;
};

/** A LIKE pattern that matches `text` anywhere: its wildcards (and the escape character) escaped. */
const containing = (text: string) => `%${text.replace(/[\\%_]/g, '\\$&')}%`;

/**
 * One page of a product search, by relevance. A product matches when its SKU
 * contains the text (case-insensitively; only a text that could be part of a
 * SKU is looked for there), or when every word of the text is a word, or the
 * start of a word, of its name and description together, case and accents
 * aside; a misspelled word also matches the words in use similar to it (the
 * full-text query is built by product_search_query, in the database). Relevance, in
 * tiers two apart with a similarity of 0 to 1 within each: the exact SKU (8);
 * a SKU that starts with the text (6, shorter SKUs first); a SKU that contains
 * it or a name that matches (4, by the similarity of the name or SKU to the
 * text); a match in the description only (2, by the description's). Ties by id.
 *
 * The rank depends on the product and the text only, so pages cut at (rank,
 * id) visit every match once. Adding products does not move an existing
 * match: new words only widen a query with words no existing product holds.
 *
 * The full-text query is built once, first (the LATERAL subquery depends on
 * it), then the candidates come from the indexes (products_sku_trigram_idx,
 * products_search_idx); only they are ranked (OFFSET 0 keeps the rank computed
 * once per candidate), and only the page is joined to categories.
 */
export async function searchProducts(sql: Sql, f: ProductSearch): Promise<ProductSearchRow[]> {
  const a = f.after;
  const byCategory = inCategory(sql, f.category);
  const archived = archivedOrActive(sql, f.archived);
  const after = a ? sql`(m.rank < ${a.key}::float8 OR (m.rank = ${a.key}::float8 AND m.id > ${a.id}))` : sql`true`;
  return sql<ProductSearchRow[]>`
    WITH query AS MATERIALIZED (SELECT product_search_query(${f.text}) AS q, search_text(${f.text}) AS text)
    SELECT ${listingColumns(sql)}, p.rank
    FROM (
      SELECT m.* FROM query, LATERAL (
        SELECT p.*,
          CASE
            WHEN lower(p.sku) = ${f.sku} THEN 8
            WHEN starts_with(lower(p.sku), ${f.sku}) THEN 6 + similarity(lower(p.sku), ${f.sku})::float8
            WHEN strpos(lower(p.sku), ${f.sku}) > 0 THEN 4 + word_similarity(${f.sku}, lower(p.sku))::float8
            WHEN to_tsvector('simple', search_text(p.name)) @@ query.q
              THEN 4 + word_similarity(query.text, search_text(p.name))::float8
            ELSE 2 + word_similarity(query.text, search_text(p.description))::float8
          END AS rank
        FROM products p
        WHERE ${archived} AND ${byCategory}
          AND (lower(p.sku) LIKE ${f.sku === null ? null : containing(f.sku)}
               OR product_search_vector(p.name, p.description) @@ query.q)
        -- A planner fence, not paging (pages are keyset, below): it keeps the subquery whole,
        -- so each candidate's rank is computed once and not again in the cursor's condition.
        OFFSET 0
      ) m
      WHERE ${after}
      ORDER BY m.rank DESC, m.id
      LIMIT ${f.limit + 1}
    ) p
    JOIN categories c ON c.id = p.category_id
    ORDER BY p.rank DESC, p.id`;
}

export type SkuPrefixFilter = {
  /** The SKUs from `from` up to, not including, `to` (skuPrefixRange). */
  from: string;
  to: string;
  category?: string;
  archived: boolean;
  limit: number;
  /** The last row of the previous page: its SKU in lower case, and id. */
  after?: Keyset;
};

/**
 * One page of the products whose SKU starts with a prefix, in SKU order (lower
 * case, byte order; then id, as archived SKUs may repeat), read as a range of
 * products_sku_order_idx.
 */
export async function listProductsBySkuPrefix(sql: Sql, f: SkuPrefixFilter): Promise<ProductListRow[]> {
  const a = f.after;
  const byCategory = inCategory(sql, f.category);
  const archived = archivedOrActive(sql, f.archived);
  const after = a ? sql`(lower(p.sku) COLLATE "C", p.id) > (${a.key}, ${a.id})` : sql`true`;
  return sql<ProductListRow[]>`
    SELECT ${listingColumns(sql)}
    FROM (
      SELECT * FROM products p
      WHERE lower(p.sku) COLLATE "C" >= ${f.from} AND lower(p.sku) COLLATE "C" < ${f.to}
        AND ${after} AND ${archived} AND ${byCategory}
      ORDER BY lower(p.sku) COLLATE "C", p.id
      LIMIT ${f.limit + 1}
    ) p
    JOIN categories c ON c.id = p.category_id
    ORDER BY lower(p.sku) COLLATE "C", p.id`;
}
