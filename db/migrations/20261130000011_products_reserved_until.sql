-- migrate:up

-- What a product shows as available is its quantity less what its open,
-- unexpired reservations hold: a subquery of reservations for every product
-- row of every lookup, listing and search, though most products have no
-- reservation at all. reserved_until spares them the subquery: it is never
-- earlier than the expiry of any open reservation of the product, so a product
-- whose reserved_until is NULL or past has nothing reserved, and its quantity
-- is its availability (src/products/queries.ts AVAILABLE_SQL); the others
-- call product_reserved.
--
-- It is an upper bound, not the exact latest expiry. It is set to the end of
-- the hour (UTC) the expiry falls in, so that a product reserved again and
-- again is written once an hour, not once a reservation: each write of it is
-- an update of the product row (and, on a full page, of its indexes). A
-- reservation released before its expiry leaves it where it was. Until it
-- passes, the product takes the subquery, which finds what is really open. A
-- fulfilment, which updates the product anyway, sets it back to cover the
-- reservations still open only (NULL when none is). It is no part of the
-- product as the API shows it: setting it changes neither updated_at nor version.
--
-- A nullable column without a default: added without rewriting the table.
ALTER TABLE products ADD COLUMN reserved_until timestamptz;

-- What a product's open, unexpired reservations hold now, at every location.
-- PL/pgSQL, not SQL, so that it is never inlined: a statement that calls it
-- only in a CASE branch (AVAILABLE_SQL) neither opens nor locks reservations
-- when no row takes that branch, where a subquery in its place is set up on
-- every execution. STABLE: it reads with the snapshot of the statement that
-- calls it, as a subquery would.
CREATE FUNCTION product_reserved(product bigint) RETURNS integer
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
  RETURN (SELECT coalesce(sum(r.quantity), 0)::integer FROM reservations r
          WHERE r.product_id = product AND r.state = 'open' AND r.expires_at > now());
END;
$$;

-- The hint alone changing is no change of the product: updated_at and version
-- (its ETag) stay. The rest of the row is compared as the trigger's WHEN
-- compares it (OLD.* IS DISTINCT FROM NEW.*), so a column added later counts
-- without touching this function.
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  rest record;
BEGIN
  IF NEW.reserved_until IS DISTINCT FROM OLD.reserved_until THEN
    rest := NEW;
    rest.reserved_until := OLD.reserved_until;
    IF rest IS NOT DISTINCT FROM OLD THEN
      RETURN NEW;
    END IF;
  END IF;
  NEW.updated_at := now();
  NEW.version := OLD.version + 1;
  RETURN NEW;
END;
$$;

-- A reservation that is open moves its product's reserved_until up past its
-- expiry, when it is not there yet: one made by stock_reserve (which holds the
-- product's row lock already), written by hand, reopened or extended. In the
-- same transaction as the reservation, so no snapshot sees the one without the
-- other.
CREATE FUNCTION reservations_set_product_reserved_until() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE products SET reserved_until = date_trunc('hour', NEW.expires_at, 'UTC') + interval '1 hour'
  WHERE id = NEW.product_id AND (reserved_until IS NULL OR reserved_until < NEW.expires_at);
  RETURN NULL;
END;
$$;

CREATE TRIGGER reservations_set_product_reserved_until
  AFTER INSERT OR UPDATE OF product_id, state, expires_at ON reservations
  FOR EACH ROW WHEN (NEW.state = 'open')
  EXECUTE FUNCTION reservations_set_product_reserved_until();

-- Fulfils an open reservation: a 'sold' movement of its whole quantity, with its reference.
-- The product's reserved_until comes down to cover its open reservations left only (NULL
-- when none is): the product is locked first (stock_lock_level), so every reservation of it
-- that committed is seen here, and one made later waits for this transaction.
CREATE OR REPLACE FUNCTION stock_fulfil(reservation bigint, note text DEFAULT NULL) RETURNS stock_change
LANGUAGE plpgsql AS $$
DECLARE
  r reservations;
  level stock_levels;
  p products;
  m stock_movements;
BEGIN
  SELECT * INTO r FROM reservations WHERE id = reservation;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no reservation with id %', reservation USING ERRCODE = 'IV005';
  END IF;
  -- Product and level first, as every stock change locks them; then the reservation.
  level := stock_lock_level(r.product_id, r.location_id);
  r := stock_open_reservation(reservation);
  UPDATE reservations SET state = 'fulfilled', closed_at = now() WHERE id = reservation;
  UPDATE products SET quantity = quantity - r.quantity,
                      reserved_until = (SELECT date_trunc('hour', max(o.expires_at), 'UTC') + interval '1 hour'
                                        FROM reservations o
                                        WHERE o.product_id = r.product_id AND o.state = 'open' AND o.expires_at > now())
  WHERE id = r.product_id RETURNING * INTO p;
  INSERT INTO stock_movements (product_id, location_id, delta, reason, note, reference, reservation_id, quantity_after)
  VALUES (r.product_id, r.location_id, -r.quantity, 'sold', note, r.reference, r.id, level.on_hand - r.quantity)
  RETURNING * INTO m;
  RETURN ROW(m, p)::stock_change;
END;
$$;

-- The products with open reservations now.
UPDATE products p SET reserved_until = date_trunc('hour', o.until, 'UTC') + interval '1 hour'
FROM (SELECT product_id, max(expires_at) AS until FROM reservations
      WHERE state = 'open' AND expires_at > now() GROUP BY product_id) o
WHERE p.id = o.product_id;

-- migrate:down

DROP TRIGGER reservations_set_product_reserved_until ON reservations;
DROP FUNCTION reservations_set_product_reserved_until();
CREATE OR REPLACE FUNCTION stock_fulfil(reservation bigint, note text DEFAULT NULL) RETURNS stock_change
LANGUAGE plpgsql AS $$
DECLARE
  r reservations;
  level stock_levels;
  p products;
  m stock_movements;
BEGIN
  SELECT * INTO r FROM reservations WHERE id = reservation;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no reservation with id %', reservation USING ERRCODE = 'IV005';
  END IF;
  -- Product and level first, as every stock change locks them; then the reservation.
  level := stock_lock_level(r.product_id, r.location_id);
  r := stock_open_reservation(reservation);
  UPDATE reservations SET state = 'fulfilled', closed_at = now() WHERE id = reservation;
  UPDATE products SET quantity = quantity - r.quantity WHERE id = r.product_id RETURNING * INTO p;
  INSERT INTO stock_movements (product_id, location_id, delta, reason, note, reference, reservation_id, quantity_after)
  VALUES (r.product_id, r.location_id, -r.quantity, 'sold', note, r.reference, r.id, level.on_hand - r.quantity)
  RETURNING * INTO m;
  RETURN ROW(m, p)::stock_change;
END;
$$;
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  NEW.version := OLD.version + 1;
  RETURN NEW;
END;
$$;
DROP FUNCTION product_reserved(bigint);
ALTER TABLE products DROP COLUMN reserved_until;
