-- migrate:up

-- Every stock.* event carries what a consumer needs about the change without
-- calling back: the location (location_id, location_code), on_hand,
-- available, delta, reason and reference, with the same meaning in each type.
--
-- `delta` is always the change of on_hand, as in the ledger: a movement's
-- delta; 0 for stock.reserved, stock.released and stock.expired, which move
-- no stock. Summed per level, deltas give on_hand. What a change did to what
-- can be sold is `available_delta` (available - available_before, from 0 for
-- a level's first stock), on every stock event: a reservation takes it, a
-- release or an expiry gives it back, a fulfilment leaves it as it was
-- (delta -2, available_delta 0).
-- `reason` is the movement's reason for movements, and 'reserved',
-- 'released' or 'expired' for reservation events; `reference` the movement's
-- or the reservation's reference.
-- The crossings (stock.out_of_stock, stock.back_in_stock, stock.low_stock)
-- copy delta, reason and reference of the change that caused them, beside
-- `cause`, its type.
--
-- What it adds per event: one integer key in the level's figures; for a
-- reservation event two constant keys; for a crossing (rare) three keys read
-- from the change's own details. No statement more.

CREATE OR REPLACE FUNCTION event_level_publish(
  main_type text, of_product bigint, at_location bigint, now_on_hand integer, now_reserved integer,
  available_before integer, details jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  available integer := greatest(now_on_hand - now_reserved, 0);
  reorder_point integer;
  figures jsonb;
  crossed text;
  low boolean;
  crossing jsonb;
BEGIN
  SELECT jsonb_build_object('product_id', of_product, 'sku', p.sku, 'location_id', at_location,
                            'location_code', lo.code, 'on_hand', now_on_hand, 'reserved', now_reserved,
                            'available', available, 'available_before', available_before,
                            'available_delta', available - coalesce(available_before, 0),
                            'reorder_point', l.reorder_point),
         l.reorder_point
    INTO figures, reorder_point
  FROM products p
  JOIN locations lo ON lo.id = at_location
  LEFT JOIN stock_levels l ON l.product_id = of_product AND l.location_id = at_location
  WHERE p.id = of_product;
  INSERT INTO events (type, product_id, data) VALUES (main_type, of_product, figures || details);
  IF available_before > 0 AND available = 0 THEN
    crossed := 'stock.out_of_stock';
  ELSIF available_before = 0 AND available > 0 THEN
    crossed := 'stock.back_in_stock';
  END IF;
  low := coalesce(reorder_point IS NOT NULL AND available_before > reorder_point AND available <= reorder_point, false);
  IF crossed IS NULL AND NOT low THEN
    RETURN;
  END IF;
  crossing := figures || jsonb_build_object('cause', main_type, 'delta', details->'delta', 'reason', details->'reason',
                                            'reference', details->'reference');
  IF crossed IS NOT NULL THEN
    INSERT INTO events (type, product_id, data) VALUES (crossed, of_product, crossing);
  END IF;
  IF low THEN
    INSERT INTO events (type, product_id, data) VALUES ('stock.low_stock', of_product, crossing);
  END IF;
END;
$$;

CREATE OR REPLACE FUNCTION events_reservations() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  on_hand integer;
  reserved integer;
  held integer;
  kind text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    kind := 'stock.reserved';
  ELSIF NEW.state IN ('released', 'expired') THEN
    kind := 'stock.' || NEW.state;
  ELSE
    RETURN NULL;
  END IF;
  SELECT l.on_hand INTO on_hand FROM stock_levels l WHERE l.product_id = NEW.product_id AND l.location_id = NEW.location_id;
  SELECT coalesce(sum(r.quantity), 0)::integer INTO reserved FROM reservations r
  WHERE r.product_id = NEW.product_id AND r.location_id = NEW.location_id AND r.state = 'open' AND r.expires_at > now();
  -- What this reservation held just before the change.
  held := CASE WHEN kind = 'stock.reserved' THEN 0
               WHEN kind = 'stock.expired' OR NEW.expires_at > now() THEN NEW.quantity
               ELSE 0 END;
  -- No stock moves: delta 0; the reason is what happened to the reservation.
  PERFORM event_level_publish(
    kind, NEW.product_id, NEW.location_id, on_hand, reserved,
    greatest(on_hand - reserved - held + CASE WHEN kind = 'stock.reserved' THEN NEW.quantity ELSE 0 END, 0),
    jsonb_build_object('reservation_id', NEW.id, 'quantity', NEW.quantity, 'reference', NEW.reference,
                       'expires_at', NEW.expires_at, 'state', NEW.state, 'delta', 0,
                       'reason', substr(kind, 7)));
  RETURN NULL;
END;
$$;

-- migrate:down

CREATE OR REPLACE FUNCTION event_level_publish(
  main_type text, of_product bigint, at_location bigint, now_on_hand integer, now_reserved integer,
  available_before integer, details jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  available integer := greatest(now_on_hand - now_reserved, 0);
  reorder_point integer;
  figures jsonb;
BEGIN
  SELECT jsonb_build_object('product_id', of_product, 'sku', p.sku, 'location_id', at_location,
                            'location_code', lo.code, 'on_hand', now_on_hand, 'reserved', now_reserved,
                            'available', available, 'available_before', available_before,
                            'reorder_point', l.reorder_point),
         l.reorder_point
    INTO figures, reorder_point
  FROM products p
  JOIN locations lo ON lo.id = at_location
  LEFT JOIN stock_levels l ON l.product_id = of_product AND l.location_id = at_location
  WHERE p.id = of_product;
  INSERT INTO events (type, product_id, data) VALUES (main_type, of_product, figures || details);
  IF available_before > 0 AND available = 0 THEN
    INSERT INTO events (type, product_id, data)
    VALUES ('stock.out_of_stock', of_product, figures || jsonb_build_object('cause', main_type));
  ELSIF available_before = 0 AND available > 0 THEN
    INSERT INTO events (type, product_id, data)
    VALUES ('stock.back_in_stock', of_product, figures || jsonb_build_object('cause', main_type));
  END IF;
  IF reorder_point IS NOT NULL AND available_before > reorder_point AND available <= reorder_point THEN
    INSERT INTO events (type, product_id, data)
    VALUES ('stock.low_stock', of_product, figures || jsonb_build_object('cause', main_type));
  END IF;
END;
$$;

CREATE OR REPLACE FUNCTION events_reservations() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  on_hand integer;
  reserved integer;
  held integer;
  kind text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    kind := 'stock.reserved';
  ELSIF NEW.state IN ('released', 'expired') THEN
    kind := 'stock.' || NEW.state;
  ELSE
    RETURN NULL;
  END IF;
  SELECT l.on_hand INTO on_hand FROM stock_levels l WHERE l.product_id = NEW.product_id AND l.location_id = NEW.location_id;
  SELECT coalesce(sum(r.quantity), 0)::integer INTO reserved FROM reservations r
  WHERE r.product_id = NEW.product_id AND r.location_id = NEW.location_id AND r.state = 'open' AND r.expires_at > now();
  -- What this reservation held just before the change.
  held := CASE WHEN kind = 'stock.reserved' THEN 0
               WHEN kind = 'stock.expired' OR NEW.expires_at > now() THEN NEW.quantity
               ELSE 0 END;
  PERFORM event_level_publish(
    kind, NEW.product_id, NEW.location_id, on_hand, reserved,
    greatest(on_hand - reserved - held + CASE WHEN kind = 'stock.reserved' THEN NEW.quantity ELSE 0 END, 0),
    jsonb_build_object('reservation_id', NEW.id, 'quantity', NEW.quantity, 'reference', NEW.reference,
                       'expires_at', NEW.expires_at, 'state', NEW.state));
  RETURN NULL;
END;
$$;
