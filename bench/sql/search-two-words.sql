-- The service's search (src/products/queries.ts searchProducts), first page of 20, as
-- GET /products?q=...&limit=20 sends it for two words: one of the queries of
-- bench/wrk/search-two-words.lua at random, set by a first one-row SELECT. A text with a space
-- cannot be part of a SKU, so the service binds NULL to the six SKU parameters. pgbench cannot
-- bind NULL (a NULL variable is sent as text), so they are written NULLIF(:none, '') with :none
-- the empty string: still parameters of the generic plan, NULL when run.
\set k random(1, 40)
\set lim 21
SELECT t AS text, '' AS none
FROM (SELECT (ARRAY[
  'foldable phone', 'woollen wok', 'granite skirt', 'silicone binder', 'classic rake',
  'slim headset', 'electric grater', 'glossy sneaker', 'cordless scanner', 'bamboo leash',
  'velvet desk', 'maple plate', 'aluminium lantern', 'premium screen', 'rugged drum', 'padded table',
  'recycled bottle', 'portable paddle', 'cotton heater', 'marble frame', 'rubber pillow',
  'modern lunchbox', 'lightweight football', 'analog mop', 'matte teddy', 'adjustable mirror',
  'steel belt', 'silk watch', 'walnut wrench', 'titanium apron', 'deluxe kettle',
  'waterproof jacket', 'insulated pendant', 'brushed chisel', 'compact laptop', 'leather skillet',
  'brass trousers', 'plastic stapler', 'vintage sprinkler', 'heavy adapter'
])[:k] AS t) s \gset
WITH query AS MATERIALIZED (SELECT product_search_query(:text) AS q, search_text(:text) AS text)
SELECT p.id, p.sku, p.name, p.description, p.price::float8 AS price, p.quantity, (CASE WHEN p.reserved_until > now() THEN greatest(p.quantity - product_reserved(p.id), 0) ELSE p.quantity END)::int AS available, c.name AS category, p.created_at, p.updated_at, p.rank
FROM (
  SELECT m.* FROM query, LATERAL (
    SELECT p.*,
      CASE
        WHEN lower(p.sku) = NULLIF(:none, '') THEN 8
        WHEN starts_with(lower(p.sku), NULLIF(:none, '')) THEN 6 + similarity(lower(p.sku), NULLIF(:none, ''))::float8
        WHEN strpos(lower(p.sku), NULLIF(:none, '')) > 0 THEN 4 + word_similarity(NULLIF(:none, ''), lower(p.sku))::float8
        WHEN to_tsvector('simple', search_text(p.name)) @@ query.q
          THEN 4 + word_similarity(query.text, search_text(p.name))::float8
        ELSE 2 + word_similarity(query.text, search_text(p.description))::float8
      END AS rank
    FROM products p
    WHERE p.archived_at IS NULL AND true
      AND (lower(p.sku) LIKE NULLIF(:none, '')
           OR product_search_vector(p.name, p.description) @@ query.q)
    OFFSET 0
  ) m
  WHERE true
  ORDER BY m.rank DESC, m.id
  LIMIT :lim
) p
JOIN categories c ON c.id = p.category_id
ORDER BY p.rank DESC, p.id;
