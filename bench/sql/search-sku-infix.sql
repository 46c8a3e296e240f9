-- The service's search (src/products/queries.ts searchProducts), first page of 20, as
-- GET /products?q=...&limit=20 sends it for a text that can be part of a SKU: one of the fragments
-- of bench/wrk/search-sku-infix.lua at random, with the values the service binds (the text, the
-- text in lower case, and it as a LIKE pattern: '%text%') set by a first one-row SELECT.
\set k random(1, 40)
\set lim 21
SELECT t AS text, lower(t) AS sku, '%' || lower(t) || '%' AS pattern
FROM (SELECT (ARRAY[
  'PA-00099', 'PR-00346', 'PA-00593', 'MO-00839', 'OR-01086', 'PL-01333', 'CO-01580', 'CA-01826',
  'RU-02073', 'SI-02320', 'LI-02566', 'SI-02813', 'MO-03060', 'LI-03306', 'ST-03553', 'ER-03800',
  'SM-04047', 'CA-04293', 'CO-04540', 'WO-04787', 'CE-05033', 'SI-05280', 'GR-05527', 'ST-05774',
  'FO-06020', 'GR-06267', 'ER-06514', 'MA-06760', 'CO-07007', 'RU-07254', 'GL-07501', 'LE-07747',
  'GL-07994', 'AL-08241', 'SM-08487', 'MA-08734', 'OR-08981', 'BA-09228', 'LI-09474', 'WI-09721'
])[:k] AS t) s \gset
WITH query AS MATERIALIZED (SELECT product_search_query(:text) AS q, search_text(:text) AS text)
SELECT p.id, p.sku, p.name, p.description, p.price::float8 AS price, p.quantity, (CASE WHEN p.reserved_until > now() THEN greatest(p.quantity - product_reserved(p.id), 0) ELSE p.quantity END)::int AS available, c.name AS category, p.created_at, p.updated_at, p.rank
FROM (
  SELECT m.* FROM query, LATERAL (
    SELECT p.*,
      CASE
        WHEN lower(p.sku) = :sku THEN 8
        WHEN starts_with(lower(p.sku), :sku) THEN 6 + similarity(lower(p.sku), :sku)::float8
        WHEN strpos(lower(p.sku), :sku) > 0 THEN 4 + word_similarity(:sku, lower(p.sku))::float8
        WHEN to_tsvector('simple', search_text(p.name)) @@ query.q
          THEN 4 + word_similarity(query.text, search_text(p.name))::float8
        ELSE 2 + word_similarity(query.text, search_text(p.description))::float8
      END AS rank
    FROM products p
    WHERE p.archived_at IS NULL AND true
      AND (lower(p.sku) LIKE :pattern
           OR product_search_vector(p.name, p.description) @@ query.q)
    OFFSET 0
  ) m
  WHERE true
  ORDER BY m.rank DESC, m.id
  LIMIT :lim
) p
JOIN categories c ON c.id = p.category_id
ORDER BY p.rank DESC, p.id;
