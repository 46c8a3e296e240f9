-- The service's reservation (src/reservations/queries.ts reserveStock through stock_reserve), as
-- POST /reservations {"product": id, "quantity": 1, "expires_in_s": 1} sends it. A product without
-- stock makes stock_reserve raise, which would end a pgbench client: the id is drawn among the
-- products the catalog gave stock (quantity (i * 31) % 500 is 0 only when i is a multiple of 500).
\set n random(1, :max_id)
\set id :n + (CASE WHEN :n % 500 = 0 THEN 1 ELSE 0 END)
SELECT r.id, r.product_id, r.location_id, r.quantity, r.expires_at, r.reference,
  CASE WHEN r.state = 'open' AND r.expires_at <= now() THEN 'expired' ELSE r.state END AS state,
  r.created_at,
  CASE WHEN r.state = 'open' AND r.expires_at <= now() THEN r.expires_at ELSE r.closed_at END AS closed_at
FROM stock_reserve(:id::bigint, coalesce(NULL::bigint, default_location()), 1::int,
                   now() + make_interval(secs => 1::int), NULL) AS r;
