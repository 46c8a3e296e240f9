/**
 * The benchmark's reference point between the service and its ceiling: a bare
 * Bun + Hono + postgres.js server answering the same requests with the
 * same SQL (the listing, a lookup, a create, a SKU prefix listing and a search), and nothing else (no validation, no middleware, no log line, no
 * metrics, driver defaults apart from the pool size and the session's plan cache
 * mode). What the service costs above it is what its own features cost; what it
 * costs below pgbench is what the stack costs.
 *
 * Served by bench/reference-server.ts; bench/layers.ts calls it in-process.
 */
import { Hono } from 'hono';
import postgres from 'postgres';

/** The bare stack's pool: driver defaults apart from the pool size and the session's plan cache mode. */
export function referencePool(url: string, max: number): postgres.Sql {
  return postgres(url, { max, connection: { plan_cache_mode: 'force_generic_plan' }, onnotice: () => {} });
}

/** The bare stack's routes on `sql`. */
export function createReferenceApp(sql: postgres.Sql): Hono {
  const app = new Hono();

  app.get('/products', async (c) => {
    const limit = Number(c.req.query('limit') ?? 50);
    const prefix = c.req.query('sku_prefix');
    if (prefix !== undefined) return c.json((await skuPrefixPage(prefix, limit)).slice(0, limit));
    const q = c.req.query('q');
    if (q !== undefined) return c.json((await searchPage(q, limit)).slice(0, limit));
    // The service's listing statement as it sends it (bench/sql/list-by-category.sql): price as float8,
    // no version, the cursor's conditions as `true`.
    const rows = await sql`
    SELECT p.id, p.sku, p.name, p.description, p.price::float8 AS price, p.quantity, (CASE WHEN p.reserved_until > now() THEN greatest(p.quantity - product_reserved(p.id), 0) ELSE p.quantity END)::int AS available, c.name AS category,
           p.created_at, p.updated_at
    FROM (
      SELECT * FROM products p
      WHERE p.archived_at IS NULL
        AND p.category_id = (SELECT id FROM categories WHERE lower(name) = lower(${c.req.query('category') ?? ''}))
        AND true AND true
      ORDER BY lower(p.name)
      LIMIT ${limit + 1}
    ) p
    JOIN categories c ON c.id = p.category_id
    ORDER BY lower(p.name)`;
    return c.json(rows.slice(0, limit));
  });

  /** GET /products?sku_prefix=: the service's listProductsBySkuPrefix, first page. */
  function skuPrefixPage(prefix: string, limit: number) {
    const from = prefix.toLowerCase();
    const to = from.slice(0, -1) + String.fromCharCode(from.charCodeAt(from.length - 1) + 1);
    return sql`
    SELECT p.id, p.sku, p.name, p.description, p.price::float8 AS price, p.quantity, (CASE WHEN p.reserved_until > now() THEN greatest(p.quantity - product_reserved(p.id), 0) ELSE p.quantity END)::int AS available, c.name AS category, p.created_at, p.updated_at
    FROM (
      SELECT * FROM products p
      WHERE lower(p.sku) COLLATE "C" >= ${from} AND lower(p.sku) COLLATE "C" < ${to}
        AND true AND p.archived_at IS NULL AND true
      ORDER BY lower(p.sku) COLLATE "C", p.id
      LIMIT ${limit + 1}
    ) p
    JOIN categories c ON c.id = p.category_id
    ORDER BY lower(p.sku) COLLATE "C", p.id`;
  }

  /** GET /products?q=: the service's searchProducts, first page (the SKU parameters NULL when the text cannot be part of a SKU). */
  function searchPage(q: string, limit: number) {
    const text = q.normalize('NFC').trim().replace(/\s+/g, ' ');
    const sku = /^[A-Za-z0-9._-]+$/.test(text) ? text.toLowerCase() : null;
    const pattern = sku === null ? null : `%${sku.replace(/[\\%_]/g, '\\$&')}%`;
    return sql`
    WITH query AS MATERIALIZED (SELECT product_search_query(${text}) AS q, search_text(${text}) AS text)
    SELECT p.id, p.sku, p.name, p.description, p.price::float8 AS price, p.quantity, (CASE WHEN p.reserved_until > now() THEN greatest(p.quantity - product_reserved(p.id), 0) ELSE p.quantity END)::int AS available, c.name AS category, p.created_at, p.updated_at, p.rank
    FROM (
      SELECT m.* FROM query, LATERAL (
        SELECT p.*,
          CASE
            WHEN lower(p.sku) = ${sku} THEN 8
            WHEN starts_with(lower(p.sku), ${sku}) THEN 6 + similarity(lower(p.sku), ${sku})::float8
            WHEN strpos(lower(p.sku), ${sku}) > 0 THEN 4 + word_similarity(${sku}, lower(p.sku))::float8
            WHEN to_tsvector('simple', search_text(p.name)) @@ query.q
              THEN 4 + word_similarity(query.text, search_text(p.name))::float8
            ELSE 2 + word_similarity(query.text, search_text(p.description))::float8
          END AS rank
        FROM products p
        WHERE p.archived_at IS NULL AND true
          AND (lower(p.sku) LIKE ${pattern}
               OR product_search_vector(p.name, p.description) @@ query.q)
        OFFSET 0
      ) m
      WHERE true
      ORDER BY m.rank DESC, m.id
      LIMIT ${limit + 1}
    ) p
    JOIN categories c ON c.id = p.category_id
    ORDER BY p.rank DESC, p.id`;
  }

  app.get('/products/:id', async (c) => {
    const [row] = await sql`
    SELECT p.id, p.sku, p.name, p.description, p.price, p.quantity, (CASE WHEN p.reserved_until > now() THEN greatest(p.quantity - product_reserved(p.id), 0) ELSE p.quantity END)::int AS available, c.name AS category,
           p.created_at, p.updated_at, p.version
    FROM products p JOIN categories c ON c.id = p.category_id
    WHERE p.id = ${Number(c.req.param('id'))} AND p.archived_at IS NULL`;
    return row ? c.json(row) : c.json({ error: 'not found' }, 404);
  });

  app.post('/products', async (c) => {
    const b = await c.req.json();
    const [row] = await sql`
    WITH c AS (
      SELECT id, name FROM categories WHERE lower(name) = lower(${b.category}) FOR KEY SHARE
    ), p AS (
      INSERT INTO products (sku, name, description, price, quantity, category_id)
      SELECT ${b.sku}, ${b.name}, ${b.description ?? null}, ${b.price}, ${b.quantity}, c.id FROM c
      RETURNING *
    ), initial AS (
      INSERT INTO stock_movements (product_id, delta, reason, quantity_after)
      SELECT p.id, p.quantity, 'initial', p.quantity FROM p WHERE p.quantity > 0
    )
    SELECT p.id, p.sku, p.name, p.description, p.price, p.quantity, (CASE WHEN p.reserved_until > now() THEN greatest(p.quantity - product_reserved(p.id), 0) ELSE p.quantity END)::int AS available,
           c.name AS category, p.created_at, p.updated_at, p.version FROM p JOIN c ON c.id = p.category_id`;
    return c.json(row, 201);
  });

  app.post('/products/:id/stock-adjustments', async (c) => {
    const b = await c.req.json();
    const [row] = await sql`
    SELECT p.id, p.sku, p.name, p.description, p.price, p.quantity, (CASE WHEN p.reserved_until > now() THEN greatest(p.quantity - product_reserved(p.id), 0) ELSE p.quantity END)::int AS available,
           c.name AS category, p.created_at, p.updated_at, p.version,
           m.id AS movement_id, m.product_id AS movement_product_id, m.location_id AS movement_location_id,
           m.delta AS movement_delta, m.reason AS movement_reason, m.note AS movement_note,
           m.quantity_after AS movement_quantity_after, m.reference AS movement_reference,
           m.transfer_id AS movement_transfer_id, m.reservation_id AS movement_reservation_id,
           m.created_at AS movement_created_at
    FROM stock_adjust(${Number(c.req.param('id'))}, coalesce(${b.location ?? null}::bigint, default_location()), ${b.delta}::int,
                      ${b.reason}, ${b.note ?? null}, ${b.reference ?? null}, ${b.expected_on_hand ?? null}::int) AS r,
         LATERAL (SELECT (r.product).*) AS p,
         LATERAL (SELECT (r.movement).*) AS m,
         categories c
    WHERE c.id = p.category_id`.catch(() => []);
    return row ? c.json(row, 201) : c.json({}, 409);
  });

  app.post('/reservations', async (c) => {
    const b = await c.req.json();
    const [row] = await sql`
    SELECT r.id, r.product_id, r.location_id, r.quantity, r.expires_at, r.reference,
      CASE WHEN r.state = 'open' AND r.expires_at <= now() THEN 'expired' ELSE r.state END AS state,
      r.created_at,
      CASE WHEN r.state = 'open' AND r.expires_at <= now() THEN r.expires_at ELSE r.closed_at END AS closed_at
    FROM stock_reserve(${b.product}::bigint, coalesce(${b.location ?? null}::bigint, default_location()), ${b.quantity}::int,
                       now() + make_interval(secs => ${b.expires_in_s ?? null}::int), ${b.reference ?? null}) AS r`.catch(
      () => [],
    );
    return row ? c.json(row, 201) : c.json({}, 409);
  });

  app.get('/readyz', (c) => c.json({ status: 'ok' }));

  return app;
}
