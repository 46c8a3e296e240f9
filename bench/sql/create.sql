-- The service's create statement (src/products/queries.ts insertProduct): product and ledger row.
\set cat random(1, 50)
\set r random(1, 999999999999)
WITH c AS (
  SELECT id, name FROM categories WHERE lower(name) = lower('Category ' || lpad(:cat::text, 2, '0')) FOR KEY SHARE
), p AS (
  INSERT INTO products (sku, name, description, price, quantity, category_id)
  SELECT 'PGB-' || :client_id || '-' || :r, 'pgbench product ' || :client_id || '-' || :r, NULL, 19.99, 5, c.id FROM c
  RETURNING *
), initial AS (
  INSERT INTO stock_movements (product_id, delta, reason, quantity_after)
  SELECT p.id, p.quantity, 'initial', p.quantity FROM p WHERE p.quantity > 0
)
SELECT p.id, p.sku, p.name, p.description, p.price, p.quantity, (CASE WHEN p.reserved_until > now() THEN greatest(p.quantity - product_reserved(p.id), 0) ELSE p.quantity END)::int AS available, c.name AS category,
       p.created_at, p.updated_at, p.version
FROM p JOIN c ON c.id = p.category_id;
