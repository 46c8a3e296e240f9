-- The service's listing SQL (src/products/queries.ts listProducts) for one category, first page of 50.
\set cat random(1, 50)
SELECT p.id, p.sku, p.name, p.description, p.price::float8 AS price, p.quantity, (CASE WHEN p.reserved_until > now() THEN greatest(p.quantity - product_reserved(p.id), 0) ELSE p.quantity END)::int AS available, c.name AS category,
       p.created_at, p.updated_at
FROM (
  SELECT * FROM products p
  WHERE p.archived_at IS NULL
    AND p.category_id = (SELECT id FROM categories WHERE lower(name) = lower('Category ' || lpad(:cat::text, 2, '0')))
    AND true AND true
  ORDER BY lower(p.name)
  LIMIT 51
) p
JOIN categories c ON c.id = p.category_id
ORDER BY lower(p.name);
