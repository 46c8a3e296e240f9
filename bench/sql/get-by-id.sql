-- The service's lookup SQL (src/products/queries.ts findProductById).
\set id random(1, :max_id)
SELECT p.id, p.sku, p.name, p.description, p.price, p.quantity, (CASE WHEN p.reserved_until > now() THEN greatest(p.quantity - product_reserved(p.id), 0) ELSE p.quantity END)::int AS available, c.name AS category,
       p.created_at, p.updated_at, p.version
FROM products p JOIN categories c ON c.id = p.category_id
WHERE p.id = :id AND p.archived_at IS NULL;
