-- The service's SKU prefix listing (src/products/queries.ts listProductsBySkuPrefix), first page of
-- 20, as GET /products?sku_prefix=...&limit=20 sends it, for one of the prefixes of
-- bench/wrk/search-sku-prefix.lua at random. The service binds the prefix as a range (skuPrefixRange:
-- from the prefix in lower case up to it with its last character the next one); pgbench cannot bind
-- a text chosen at random, so the two bounds are picked from lists (in the order of the Lua list) by
-- the random index :k, once per scan, where the service has its two parameters. (The searches pick
-- their text with a first SELECT ... \gset instead, as their parameters are also read row by row;
-- here that round trip would cost about a fifth of the statement.)
\set k random(1, 40)
\set lim 21
SELECT p.id, p.sku, p.name, p.description, p.price::float8 AS price, p.quantity, (CASE WHEN p.reserved_until > now() THEN greatest(p.quantity - product_reserved(p.id), 0) ELSE p.quantity END)::int AS available, c.name AS category, p.created_at, p.updated_at
FROM (
  SELECT * FROM products p
  WHERE lower(p.sku) COLLATE "C" >= (ARRAY[
  'mic-po', 'sui-wa', 'env-he', 'che-po', 'spa-wo', 'bic-al', 'lad-an', 'ben-co', 'shi-oa', 'bat-bu',
  'key-gl', 'mug-co', 'ear-ti', 'aqu-di', 'bas-wi', 'umb-gr', 'spo-pr', 'cam-ma', 'wal-le', 'cal-ca',
  'kit-sm', 'lad-co', 'sco-ma', 'hos-de', 'sof-st', 'blo-ce', 'doo-si', 'mon-ru', 'cup-ad', 'bro-br',
  'gui-ru', 'buc-qu', 'rai-ba', 'ham-ru', 'tri-wa', 'pur-ha', 'pla-co', 'yoy-cl', 'whi-pa', 'ska-st'
])[:k] AND lower(p.sku) COLLATE "C" < (ARRAY[
  'mic-pp', 'sui-wb', 'env-hf', 'che-pp', 'spa-wp', 'bic-am', 'lad-ao', 'ben-cp', 'shi-ob', 'bat-bv',
  'key-gm', 'mug-cp', 'ear-tj', 'aqu-dj', 'bas-wj', 'umb-gs', 'spo-ps', 'cam-mb', 'wal-lf', 'cal-cb',
  'kit-sn', 'lad-cp', 'sco-mb', 'hos-df', 'sof-su', 'blo-cf', 'doo-sj', 'mon-rv', 'cup-ae', 'bro-bs',
  'gui-rv', 'buc-qv', 'rai-bb', 'ham-rv', 'tri-wb', 'pur-hb', 'pla-cp', 'yoy-cm', 'whi-pb', 'ska-su'
])[:k]
    AND true AND p.archived_at IS NULL AND true
  ORDER BY lower(p.sku) COLLATE "C", p.id
  LIMIT :lim
) p
JOIN categories c ON c.id = p.category_id
ORDER BY lower(p.sku) COLLATE "C", p.id;
