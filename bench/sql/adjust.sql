-- The service's adjustment (src/stock/queries.ts adjustStock): +1 or -1 on a random product.
\set id random(1, :max_id)
\set d random(0, 1) * 2 - 1
WITH p AS (
  UPDATE products SET quantity = quantity + :d
  WHERE id = :id AND archived_at IS NULL AND quantity + :d >= 0
  RETURNING *
), m AS (
  INSERT INTO stock_movements (product_id, delta, reason, note, quantity_after)
  SELECT p.id, :d, CASE WHEN :d > 0 THEN 'received' ELSE 'sold' END, NULL, p.quantity FROM p
  RETURNING *
)
SELECT p.id, p.sku, p.name, p.description, p.price, p.quantity, c.name AS category,
       p.created_at, p.updated_at, p.version,
       m.id AS movement_id, m.product_id AS movement_product_id, m.delta AS movement_delta,
       m.reason AS movement_reason, m.note AS movement_note,
       m.quantity_after AS movement_quantity_after, m.created_at AS movement_created_at,
       CASE WHEN p.id IS NULL THEN
         coalesce((SELECT 'insufficient'::text FROM products s WHERE s.id = :id AND s.archived_at IS NULL), 'missing')
       END AS missed
FROM (VALUES (1)) AS one (x)
LEFT JOIN p ON true
LEFT JOIN categories c ON c.id = p.category_id
LEFT JOIN m ON true;
