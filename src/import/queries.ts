/**
 * The SQL of bulk import. An import runs in one transaction on one
 * connection: the file is COPYed into a temporary staging table, every row is
 * checked set-based in SQL with the API's rules, and the valid rows are applied
 * with a few statements (categories, stock corrections, updates, inserts).
 */
import type { Sql } from '../db.ts';
import { MAX_CATEGORY_NAME, MAX_PRODUCT_NAME, NAME_CHARACTERS_MESSAGE, TEXT_CHARACTERS_MESSAGE } from '../http/text.ts';
import {
  DEFAULT_CATEGORY,
  DESCRIPTION_LENGTH_MESSAGE,
  INITIAL_MOVEMENT,
  MAX_DESCRIPTION,
  PRICE_MESSAGES,
  PRICE_TEXT_SQL,
  QUANTITY_MAX,
  QUANTITY_MESSAGES,
  QUANTITY_MIN,
  QUANTITY_TEXT_SQL,
  SKU_CHARACTERS,
  SKU_MAX_LENGTH,
  SKU_MESSAGE,
} from '../products/model.ts';

export type ImportMode = 'upsert' | 'insert';
export type RowError = { line: number; field: string; message: string };

// The rules and messages are the API's (src/products/model.ts): the SKU's
// pattern less its length (checked apart: PostgreSQL's regex engine is ten times
// slower on the bounded form), the price's pattern in PostgreSQL's syntax.
// tests/cli/import.test.ts and tests/products/model.test.ts hold SQL and model equal.

/** What String.prototype.trim removes: the API trims names and categories with it. */
const WHITESPACE =
  '\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff';

/**
 * The file as read: every value as text, null when the row does not give it;
 * description_given is false when the description was left out altogether.
 * row_error and problems hold what the reader found (src/import/rows.ts).
 */
export async function createStaging(sql: Sql): Promise<void> {
  await sql`
    CREATE TEMP TABLE import_staging (
      line        integer NOT NULL,
      sku         text,
      name        text,
      description text,
      price       text,
      quantity    text,
      category    text,
      location    text,
      row_error   text,
      problems    jsonb,
      description_given boolean NOT NULL
    ) ON COMMIT DROP`;
}

/** A COPY stream into the staging table; write rows in COPY text format (copyLine). */
export function copyIntoStaging(sql: Sql) {
  return sql`COPY import_staging FROM STDIN`.writable();
}

/**
 * Normalises every staged row (trimmed name and category), matches it to the
 * active product with its SKU and to the active product holding its name, and
 * decides each field's error, if any, as the API would. Then collects the
 * errors, duplicates within the file included.
 *
 * A value the row does not give (its column left out, or its cell empty) keeps
 * what an existing product has; a new product gets what POST /products gives
 * (quantity 0, the default category) and needs a name and a price. The
 * description is the exception: an empty one means no description (export
 * writes a missing description so), and only a description left out is kept.
 */
export async function checkRows(sql: Sql, mode: ImportMode): Promise<void> {
  await sql`ANALYZE import_staging`;
  await sql`
    CREATE TEMP TABLE import_rows (
      line integer NOT NULL,
      sku text, sku_key text, name text, name_key text, description text, description_given boolean,
      price text, quantity text, category text, category_key text, category_given boolean,
      location text, location_id bigint,
      product_id bigint, old_quantity integer,
      row_error text, problems jsonb,
      sku_error text, name_error text, description_error text,
      price_error text, quantity_error text, category_error text, location_error text
    ) ON COMMIT DROP`;
  await sql`
    INSERT INTO import_rows
    SELECT n.line, n.sku, n.sku_key, n.name, n.name_key, n.description, n.description_given,
           n.price, n.quantity,
           -- The default category only for a new product; an existing one keeps its own.
           coalesce(n.category, CASE WHEN p.id IS NULL THEN ${DEFAULT_CATEGORY} END),
           lower(coalesce(n.category, CASE WHEN p.id IS NULL THEN ${DEFAULT_CATEGORY} END)),
           n.category IS NOT NULL,
           n.location, CASE WHEN n.location IS NULL THEN default_location() ELSE l.id END,
           p.id, p.quantity, n.row_error, n.problems,
           CASE
             WHEN n.row_error IS NOT NULL OR n.problems ? 'sku' THEN NULL
             WHEN n.sku IS NULL OR n.sku = '' THEN 'is required'
             WHEN n.sku !~ ${SKU_CHARACTERS} OR char_length(n.sku) > ${SKU_MAX_LENGTH} THEN ${SKU_MESSAGE}
             WHEN ${mode} = 'insert' AND p.id IS NOT NULL THEN 'a product with this SKU already exists'
           END,
           CASE
             WHEN n.row_error IS NOT NULL OR n.problems ? 'name' THEN NULL
             WHEN n.name IS NULL THEN CASE WHEN p.id IS NULL THEN 'is required for a new product' END
             WHEN n.name = '' THEN 'must not be empty'
             WHEN NOT is_clean_name(n.name) THEN ${NAME_CHARACTERS_MESSAGE}
             WHEN char_length(n.name) > ${MAX_PRODUCT_NAME} THEN ${`must be at most ${MAX_PRODUCT_NAME} characters`}
             WHEN o.id IS NOT NULL AND o.id IS DISTINCT FROM p.id THEN 'another product (SKU ' || o.sku || ') has this name'
           END,
           CASE
             WHEN n.row_error IS NOT NULL OR n.problems ? 'description' THEN NULL
             WHEN NOT is_clean_text(n.description) THEN ${TEXT_CHARACTERS_MESSAGE}
             WHEN char_length(n.description) > ${MAX_DESCRIPTION} THEN ${DESCRIPTION_LENGTH_MESSAGE}
           END,
           CASE
             WHEN n.row_error IS NOT NULL OR n.problems ? 'price' THEN NULL
             WHEN n.price IS NULL THEN CASE WHEN p.id IS NULL THEN 'is required for a new product' END
             WHEN n.price !~ ${PRICE_TEXT_SQL} THEN ${PRICE_MESSAGES.text}
           END,
           CASE
             WHEN n.row_error IS NOT NULL OR n.problems ? 'quantity' OR n.quantity IS NULL THEN NULL
             WHEN n.quantity !~ ${QUANTITY_TEXT_SQL} THEN ${QUANTITY_MESSAGES.whole}
             WHEN n.quantity::numeric < ${QUANTITY_MIN} THEN ${QUANTITY_MESSAGES.min}
             WHEN n.quantity::numeric > ${QUANTITY_MAX} THEN ${QUANTITY_MESSAGES.max}
           END,
           CASE
             WHEN n.row_error IS NOT NULL OR n.problems ? 'category' THEN NULL
             WHEN n.category = '' THEN 'must not be empty'
             WHEN NOT is_clean_name(n.category) THEN ${NAME_CHARACTERS_MESSAGE}
             WHEN char_length(n.category) > ${MAX_CATEGORY_NAME} THEN ${`must be at most ${MAX_CATEGORY_NAME} characters`}
           END,
           CASE
             WHEN n.row_error IS NOT NULL OR n.problems ? 'location' OR n.location IS NULL THEN NULL
             WHEN l.id IS NULL THEN 'no active location with this code'
           END
    FROM (
      SELECT t.*, lower(t.sku) AS sku_key, lower(t.name) AS name_key
      FROM (
        -- OFFSET 0 keeps each value computed once per row rather than at every use.
        SELECT s.line, s.sku, btrim(s.name, ${WHITESPACE}) AS name, s.description, s.description_given,
               nullif(btrim(s.price, ${WHITESPACE}), '') AS price,
               nullif(btrim(s.quantity, ${WHITESPACE}), '') AS quantity,
               btrim(s.category, ${WHITESPACE}) AS category,
               -- An empty location is the default one.
               nullif(btrim(s.location, ${WHITESPACE}), '') AS location,
               s.row_error, s.problems
        FROM import_staging s OFFSET 0
      ) t OFFSET 0
    ) n
    LEFT JOIN products p ON p.archived_at IS NULL AND lower(p.sku) = n.sku_key
    LEFT JOIN products o ON o.archived_at IS NULL AND lower(o.name) = n.name_key
    LEFT JOIN locations l ON l.archived_at IS NULL AND lower(l.code) = lower(n.location)`;
  await sql`ANALYZE import_rows`;

  await sql`
    CREATE TEMP TABLE import_errors (line integer NOT NULL, ord integer NOT NULL, field text NOT NULL, message text NOT NULL)
    ON COMMIT DROP`;
  await sql`
    INSERT INTO import_errors (line, ord, field, message)
    SELECT line, 0, 'row', row_error FROM import_rows WHERE row_error IS NOT NULL
    UNION ALL
    SELECT r.line, coalesce(array_position(ARRAY['sku', 'name', 'description', 'price', 'quantity', 'category', 'location'], p.key), 8),
           p.key, p.value
    FROM import_rows r CROSS JOIN LATERAL jsonb_each_text(r.problems) p
    WHERE r.problems IS NOT NULL
    UNION ALL
    SELECT r.line, e.ord, e.field, e.message
    FROM import_rows r CROSS JOIN LATERAL (VALUES
      (1, 'sku', r.sku_error), (2, 'name', r.name_error), (3, 'description', r.description_error),
      (4, 'price', r.price_error), (5, 'quantity', r.quantity_error), (6, 'category', r.category_error),
      (7, 'location', r.location_error)
    ) e (ord, field, message)
    WHERE num_nonnulls(r.sku_error, r.name_error, r.description_error, r.price_error, r.quantity_error, r.category_error,
                       r.location_error) > 0
      AND e.message IS NOT NULL
    UNION ALL
    -- One SKU may have a row per location (an export writes one per stock level), not two at one.
    SELECT r.line, 1, 'sku', 'duplicate of line ' || d.first_line
    FROM import_rows r
    JOIN (SELECT sku_key, location_id, min(line) AS first_line FROM import_rows
          WHERE sku_key IS NOT NULL AND sku_error IS NULL AND location_id IS NOT NULL
          GROUP BY sku_key, location_id HAVING count(*) > 1) d ON d.sku_key = r.sku_key AND d.location_id = r.location_id
    WHERE r.line > d.first_line AND r.sku_error IS NULL
    UNION ALL
    -- A name belongs to one SKU: the rows of that SKU may repeat it.
    SELECT r.line, 2, 'name', 'duplicate of line ' || d.line
    FROM import_rows r
    JOIN (SELECT DISTINCT ON (name_key) name_key, line, sku_key FROM import_rows
          WHERE name_key IS NOT NULL AND name_error IS NULL
          ORDER BY name_key, line) d ON d.name_key = r.name_key
    WHERE r.line > d.line AND r.name_error IS NULL AND r.sku_key IS DISTINCT FROM d.sku_key
    UNION ALL
    -- The rows of one SKU at several locations give one product: what a later row gives must agree with the first.
    SELECT r.line, e.ord, e.field, 'differs from line ' || f.line || ', an earlier row of this SKU'
    FROM import_rows r
    JOIN (SELECT DISTINCT ON (sku_key) * FROM import_rows WHERE sku_key IS NOT NULL ORDER BY sku_key, line) f
      ON f.sku_key = r.sku_key AND f.line < r.line
    CROSS JOIN LATERAL (VALUES
      (2, 'name', r.name IS NOT NULL AND r.name IS DISTINCT FROM f.name),
      (3, 'description', r.description_given AND r.description IS DISTINCT FROM f.description),
      (4, 'price', CASE WHEN r.price ~ ${PRICE_TEXT_SQL} AND f.price ~ ${PRICE_TEXT_SQL}
                        THEN r.price::numeric <> f.price::numeric ELSE r.price IS NOT NULL AND r.price IS DISTINCT FROM f.price END),
      (6, 'category', r.category_given AND r.category_key IS DISTINCT FROM f.category_key)
    ) e (ord, field, differs)
    WHERE e.differs AND r.sku_error IS NULL AND r.location_id IS DISTINCT FROM f.location_id`;
}

export type CheckReport = { rows: number; invalidRows: number; errorCount: number; errors: RowError[] };

/** How many rows were read and are invalid, and the first `limit` errors in line order. */
export async function readCheckReport(sql: Sql, limit: number): Promise<CheckReport> {
  const [counts] = await sql<{ rows: number; invalid_rows: number; error_count: number }[]>`
    SELECT (SELECT count(*)::int FROM import_rows) AS rows,
           (SELECT count(DISTINCT line)::int FROM import_errors) AS invalid_rows,
           (SELECT count(*)::int FROM import_errors) AS error_count`;
  const errors = await sql<RowError[]>`
    SELECT line, field, message FROM import_errors ORDER BY line, ord, field LIMIT ${limit}`;
  return { rows: counts!.rows, invalidRows: counts!.invalid_rows, errorCount: counts!.error_count, errors: [...errors] };
}

/** The fields an import may change, each with how many existing products it changed. */
export type FieldCounts = { name: number; description: number; price: number; quantity: number; category: number };

export type ApplyCounts = {
  inserted: number;
  updated: number;
  unchanged: number;
  categoriesCreated: number;
  /** Per field, how many of the updated products it changed. */
  changed: FieldCounts;
};

export const NO_CHANGES: FieldCounts = { name: 0, description: 0, price: 0, quantity: 0, category: 0 };

/**
 * Applies the valid rows: creates their missing categories, updates the
 * existing products that differ from their row (with a count_correction
 * movement when the stock changes), and inserts the new ones (with an
 * 'initial' movement for their stock). Set-based throughout.
 */
export async function applyRows(sql: Sql, note: string): Promise<ApplyCounts> {
  await sql`DELETE FROM import_rows r USING import_errors e WHERE r.line = e.line`;

  // Creates the missing categories and locks the others FOR KEY SHARE, so a
  // category deleted through the API meanwhile cannot vanish under the rows
  // that name it; one deleted between the two statements is created again.
  let categoriesCreated = 0;
  for (let round = 0; ; round++) {
    const created = await sql`
      INSERT INTO categories (name)
      SELECT r.category
      FROM (SELECT category_key, min(line) AS line FROM import_rows WHERE category_key IS NOT NULL GROUP BY category_key) first
      JOIN import_rows r ON r.line = first.line
      WHERE NOT EXISTS (SELECT 1 FROM categories c WHERE lower(c.name) = first.category_key)
      ON CONFLICT (lower(name)) DO NOTHING`;
    categoriesCreated += created.count;
    const [missing] = await sql<{ n: number }[]>`
      WITH named AS (SELECT DISTINCT category_key FROM import_rows WHERE category_key IS NOT NULL),
      locked AS (SELECT 1 FROM categories c WHERE lower(c.name) IN (SELECT category_key FROM named) FOR KEY SHARE)
      SELECT (SELECT count(*) FROM named)::int - (SELECT count(*) FROM locked)::int AS n`;
    if (missing!.n === 0) break;
    if (round === 100) throw new Error("the import's categories kept being deleted while it ran");
  }

  // Every product the file names is locked first, in id order, and then the
  // locations its rows put stock at (FOR SHARE, so none is archived meanwhile):
  // the order in which the stock functions lock them. Each statement below then
  // reads stock that nothing else can change until commit, so a stock
  // adjustment committed meanwhile is either before a correction (and counted
  // in its delta) or after it.
  await sql`
    SELECT 1 FROM products
    WHERE id IN (SELECT product_id FROM import_rows) AND archived_at IS NULL
    ORDER BY id FOR NO KEY UPDATE`;
  await sql`SELECT 1 FROM locations WHERE id IN (SELECT location_id FROM import_rows) ORDER BY id FOR SHARE`;

  // One statement. A row's quantity is the on hand at its location: a
  // count_correction movement there when it differs (the movement sets the
  // level), and the product's quantity, the sum of its levels, moves by the
  // same delta; its other levels are left as they are. A product's other
  // fields come from its first row (later rows of the same SKU, at other
  // locations, agree with it: checkRows). A value the row leaves out is the
  // product's own (null in import_rows; for the description,
  // description_given false).
  const [updated] = await sql<({ updated: number } & FieldCounts)[]>`
    WITH corrections AS (
      INSERT INTO stock_movements (product_id, location_id, delta, reason, note, quantity_after)
      SELECT r.product_id, r.location_id, r.quantity::integer - coalesce(l.on_hand, 0), 'count_correction', ${note},
             r.quantity::integer
      FROM import_rows r
      LEFT JOIN stock_levels l ON l.product_id = r.product_id AND l.location_id = r.location_id
      WHERE r.product_id IS NOT NULL AND r.quantity IS NOT NULL AND r.quantity::integer <> coalesce(l.on_hand, 0)
      ORDER BY r.product_id, r.location_id
      RETURNING product_id, delta
    ), totals AS (
      SELECT product_id, sum(delta)::integer AS delta FROM corrections GROUP BY product_id
    ), firsts AS (
      SELECT DISTINCT ON (product_id) * FROM import_rows WHERE product_id IS NOT NULL ORDER BY product_id, line
    ), changing AS (
      SELECT p.id, p.name AS old_name, p.description AS old_description, p.price AS old_price,
             p.category_id AS old_category_id, t.product_id IS NOT NULL AS corrected,
             coalesce(r.name, p.name) AS name,
             CASE WHEN r.description_given THEN r.description ELSE p.description END AS description,
             coalesce(r.price::numeric, p.price) AS price,
             coalesce(c.id, p.category_id) AS category_id,
             p.quantity + coalesce(t.delta, 0) AS quantity
      FROM products p
      JOIN firsts r ON r.product_id = p.id
      LEFT JOIN categories c ON lower(c.name) = r.category_key
      LEFT JOIN totals t ON t.product_id = p.id
      WHERE p.archived_at IS NULL
        AND (t.product_id IS NOT NULL
             OR (p.name, p.description, p.price, p.category_id)
                IS DISTINCT FROM (coalesce(r.name, p.name),
                                  CASE WHEN r.description_given THEN r.description ELSE p.description END,
                                  coalesce(r.price::numeric, p.price), coalesce(c.id, p.category_id)))
    ), updated AS (
      UPDATE products p
      SET name = ch.name, description = ch.description, price = ch.price,
          category_id = ch.category_id, quantity = ch.quantity
      FROM changing ch
      WHERE p.id = ch.id
      RETURNING ch.*
    )
    SELECT count(*)::int AS updated,
           count(*) FILTER (WHERE name IS DISTINCT FROM old_name)::int AS name,
           count(*) FILTER (WHERE description IS DISTINCT FROM old_description)::int AS description,
           count(*) FILTER (WHERE price IS DISTINCT FROM old_price)::int AS price,
           count(*) FILTER (WHERE corrected)::int AS quantity,
           count(*) FILTER (WHERE category_id IS DISTINCT FROM old_category_id)::int AS category
    FROM updated`;

  // A new product: one per SKU, from its first row, with an 'initial' movement
  // at each row's location for the stock it gives there.
  const [inserted] = await sql<{ inserted: number; matched: number }[]>`
    WITH firsts AS (
      SELECT DISTINCT ON (sku_key) * FROM import_rows WHERE product_id IS NULL ORDER BY sku_key, line
    ), stock AS (
      SELECT sku_key, sum(coalesce(quantity::integer, 0))::integer AS quantity
      FROM import_rows WHERE product_id IS NULL GROUP BY sku_key
    ), inserted AS (
      INSERT INTO products (sku, name, description, price, quantity, category_id)
      SELECT r.sku, r.name, r.description, r.price::numeric, s.quantity, c.id
      FROM firsts r JOIN stock s ON s.sku_key = r.sku_key JOIN categories c ON lower(c.name) = r.category_key
      RETURNING id, lower(sku) AS sku_key
    ), initial AS (
      INSERT INTO stock_movements (product_id, location_id, delta, reason, note, quantity_after)
      SELECT i.id, r.location_id, r.quantity::integer, ${INITIAL_MOVEMENT}, ${note}, r.quantity::integer
      FROM inserted i JOIN import_rows r ON r.sku_key = i.sku_key AND r.product_id IS NULL
      WHERE r.quantity::integer > 0
    )
    SELECT (SELECT count(*)::int FROM inserted) AS inserted,
           (SELECT count(DISTINCT product_id)::int FROM import_rows WHERE product_id IS NOT NULL) AS matched`;

  const { updated: updatedCount, ...changed } = updated!;
  return {
    inserted: inserted!.inserted,
    updated: updatedCount,
    unchanged: inserted!.matched - updatedCount,
    categoriesCreated,
    changed,
  };
}

/**
 * The import's own event, import.completed, in its transaction: what it wrote
 * (each product and movement has published its own events already).
 */
export async function recordImportCompleted(
  sql: Sql,
  file: string,
  counts: ApplyCounts & { rows: number; invalidRows: number },
): Promise<void> {
  const data = {
    file,
    rows: counts.rows,
    inserted: counts.inserted,
    updated: counts.updated,
    unchanged: counts.unchanged,
    categories_created: counts.categoriesCreated,
    invalid_rows: counts.invalidRows,
  };
  await sql`INSERT INTO events (type, data) VALUES ('import.completed', ${sql.json(data)})`;
}

/** Drops the import's temporary tables (also dropped at commit; this frees them inside a longer transaction). */
export async function dropImportTables(sql: Sql): Promise<void> {
  await sql`DROP TABLE IF EXISTS import_staging, import_rows, import_errors`;
}
