-- The service's adjustment at a location (src/stock/queries.ts adjustStock through stock_adjust),
-- as POST /products/{id}/stock-adjustments {"delta":1,"reason":"received","location":2} sends it.
\set id random(1, :max_id)
SELECT p.id, p.sku, p.name, p.description, p.price, p.quantity,
       (CASE WHEN p.reserved_until > now() THEN greatest(p.quantity - product_reserved(p.id), 0) ELSE p.quantity END)::int AS available,
       c.name AS category, p.created_at, p.updated_at, p.version,
       m.id AS movement_id, m.product_id AS movement_product_id, m.location_id AS movement_location_id,
       m.delta AS movement_delta, m.reason AS movement_reason, m.note AS movement_note,
       m.quantity_after AS movement_quantity_after, m.reference AS movement_reference,
       m.transfer_id AS movement_transfer_id, m.reservation_id AS movement_reservation_id,
       m.created_at AS movement_created_at
FROM stock_adjust(:id, coalesce(2::bigint, default_location()), 1::int, 'received', NULL, NULL, NULL::int) AS r,
     LATERAL (SELECT (r.product).*) AS p,
     LATERAL (SELECT (r.movement).*) AS m,
     categories c
WHERE c.id = p.category_id;
