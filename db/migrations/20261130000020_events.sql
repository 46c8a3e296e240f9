-- migrate:up

-- Events: every change, written by the transaction that makes it (a
-- transactional outbox kept by triggers, so the API, an import and psql all
-- publish alike). A request that fails writes no event; one that commits has
-- all of its events.
--
-- The feed's order is commit order. An event's id comes from an identity,
-- taken before commit, so ids alone cannot be the feed's order: a reader
-- paging by id > last would skip an event whose transaction commits after a
-- later id was read. Instead, events_publish() gives committed events their
-- position, one publisher at a time (it locks the single event_publisher
-- row), in id order within each batch. A position is only ever given to an
-- event already committed, after every position given before it, and
-- positions become visible all at once when the publisher commits, so a
-- reader following `position > last` never skips one. Changes of the same
-- row are serialized by its lock, and the later one's event is inserted
-- after the earlier one committed, so per product the feed follows the order
-- in which the changes happened.

CREATE TABLE events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The feed's order, given after commit by events_publish(); NULL until then.
  position    bigint,
  type        text NOT NULL,
  product_id  bigint,
  data        jsonb NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_type_format CHECK (type ~ '^[a-z_]+\.[a-z_]+$')
);
CREATE UNIQUE INDEX events_position_key ON events (position) WHERE position IS NOT NULL;
-- What the publisher has still to number (a handful of rows at any time).
CREATE INDEX events_unpublished_idx ON events (id) WHERE position IS NULL;
-- The feed of one product, and of one type.
CREATE INDEX events_product_idx ON events (product_id, position) WHERE position IS NOT NULL AND product_id IS NOT NULL;
CREATE INDEX events_type_idx ON events (type, position) WHERE position IS NOT NULL;
ALTER TABLE events SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

-- The last position given, one row: whoever locks it publishes.
CREATE TABLE event_publisher (
  singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_position bigint NOT NULL DEFAULT 0
);
INSERT INTO event_publisher DEFAULT VALUES;

-- Gives the committed, unpublished events (at most `batch`) their positions,
-- in id order, and wakes the listeners of channel 'events' (at commit) with
-- the last position. Returns how many were published; 0 when another
-- publisher holds the lock (it publishes them).
CREATE FUNCTION events_publish(batch integer DEFAULT 10000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  previous bigint;
  published integer;
BEGIN
  SELECT last_position INTO previous FROM event_publisher FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  WITH pending AS (
    SELECT id, previous + row_number() OVER (ORDER BY id) AS position
    FROM (SELECT id FROM events WHERE position IS NULL ORDER BY id LIMIT batch) p
  )
  UPDATE events e SET position = pending.position FROM pending WHERE e.id = pending.id;
  GET DIAGNOSTICS published = ROW_COUNT;
  IF published > 0 THEN
    UPDATE event_publisher SET last_position = previous + published;
    PERFORM pg_notify('events', (previous + published)::text);
  END IF;
  RETURN published;
END;
$$;

-- Deletes published events older than `keep`, oldest first, at most `batch`
-- of them. Returns how many.
CREATE FUNCTION events_prune(keep interval, batch integer DEFAULT 5000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  oldest bigint;
  pruned integer;
BEGIN
  SELECT position INTO oldest FROM events WHERE position IS NOT NULL ORDER BY position LIMIT 1;
  IF oldest IS NULL THEN
    RETURN 0;
  END IF;
  DELETE FROM events
  WHERE position IS NOT NULL AND position < oldest + batch AND occurred_at < now() - keep;
  GET DIAGNOSTICS pruned = ROW_COUNT;
  RETURN pruned;
END;
$$;

-- ---------------------------------------------------------------------------
-- What a consumer needs without calling back

-- A product as the API shows it (its category by name; no version). An
-- expression only, so PostgreSQL inlines it into the statement that calls it.
CREATE FUNCTION event_product(p products, category text) RETURNS jsonb
LANGUAGE sql STABLE
RETURN jsonb_build_object(
  'id', p.id, 'sku', p.sku, 'name', p.name, 'description', p.description, 'price', p.price::float8,
  'quantity', p.quantity, 'category', category, 'archived', p.archived_at IS NOT NULL,
  'created_at', p.created_at, 'updated_at', p.updated_at);

-- Publishes a change of a level: the main event, with the level's figures
-- after it and what was available before it, then the crossings it made:
-- out_of_stock (available reached 0), back_in_stock (available came back
-- from 0) and low_stock (available fell to or below the level's reorder
-- point). Without available_before (a product's first stock), no crossings.
-- plpgsql with plain statements: each is planned once per session.
CREATE FUNCTION event_level_publish(
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

-- ---------------------------------------------------------------------------
-- Triggers

-- product.created. Row triggers throughout: a statement trigger reading a
-- transition table cost an adjustment about twice as much PostgreSQL CPU
-- (bench/trigger-cost.ts), and single-row changes are what the service makes.
CREATE FUNCTION events_products_created() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO events (type, product_id, data)
  VALUES ('product.created', NEW.id,
          event_product(NEW, (SELECT c.name FROM categories c WHERE c.id = NEW.category_id)));
  RETURN NULL;
END;
$$;
CREATE TRIGGER events_products_created AFTER INSERT ON products
  FOR EACH ROW EXECUTE FUNCTION events_products_created();

-- product.updated (with the fields that changed), product.archived, product.restored.
-- Stock is not a product change: its movements publish it.
CREATE FUNCTION events_products_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed text[];
  product jsonb;
BEGIN
  product := event_product(NEW, (SELECT c.name FROM categories c WHERE c.id = NEW.category_id));
  changed := array_remove(ARRAY[
    CASE WHEN OLD.sku IS DISTINCT FROM NEW.sku THEN 'sku' END,
    CASE WHEN OLD.name IS DISTINCT FROM NEW.name THEN 'name' END,
    CASE WHEN OLD.description IS DISTINCT FROM NEW.description THEN 'description' END,
    CASE WHEN OLD.price IS DISTINCT FROM NEW.price THEN 'price' END,
    CASE WHEN OLD.category_id IS DISTINCT FROM NEW.category_id THEN 'category' END], NULL);
  IF OLD.archived_at IS NULL AND NEW.archived_at IS NOT NULL THEN
    INSERT INTO events (type, product_id, data) VALUES ('product.archived', NEW.id, product);
  ELSIF OLD.archived_at IS NOT NULL AND NEW.archived_at IS NULL THEN
    INSERT INTO events (type, product_id, data) VALUES ('product.restored', NEW.id, product);
  END IF;
  IF cardinality(changed) > 0 THEN
    INSERT INTO events (type, product_id, data)
    VALUES ('product.updated', NEW.id, product || jsonb_build_object('changed', to_jsonb(changed)));
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER events_products_changed AFTER UPDATE ON products
  FOR EACH ROW
  WHEN (OLD.sku IS DISTINCT FROM NEW.sku OR OLD.name IS DISTINCT FROM NEW.name
        OR OLD.description IS DISTINCT FROM NEW.description OR OLD.price IS DISTINCT FROM NEW.price
        OR OLD.category_id IS DISTINCT FROM NEW.category_id OR OLD.archived_at IS DISTINCT FROM NEW.archived_at)
  EXECUTE FUNCTION events_products_changed();

-- category.created, category.deleted.
CREATE FUNCTION events_categories() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO events (type, data)
    VALUES ('category.created', jsonb_build_object('id', NEW.id, 'name', NEW.name, 'description', NEW.description));
  ELSE
    INSERT INTO events (type, data)
    VALUES ('category.deleted', jsonb_build_object('id', OLD.id, 'name', OLD.name, 'description', OLD.description));
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER events_categories AFTER INSERT OR DELETE ON categories
  FOR EACH ROW EXECUTE FUNCTION events_categories();

-- A movement: stock.adjusted, stock.transferred (one per side) or
-- stock.fulfilled (a reservation's sale), with the level after it and its
-- crossings. A fulfilment takes stock that its reservation held: what was
-- available does not change. A product's first stock (an 'initial' movement)
-- is not "back" in stock.
CREATE FUNCTION events_stock_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  reserved integer;
BEGIN
  SELECT coalesce(sum(r.quantity), 0)::integer INTO reserved FROM reservations r
  WHERE r.product_id = NEW.product_id AND r.location_id = NEW.location_id AND r.state = 'open' AND r.expires_at > now();
  PERFORM event_level_publish(
    CASE WHEN NEW.transfer_id IS NOT NULL THEN 'stock.transferred'
         WHEN NEW.reservation_id IS NOT NULL THEN 'stock.fulfilled'
         ELSE 'stock.adjusted' END,
    NEW.product_id, NEW.location_id, NEW.quantity_after, reserved,
    CASE WHEN NEW.reason = 'initial' THEN NULL
         ELSE greatest(NEW.quantity_after - NEW.delta - reserved
                       + CASE WHEN NEW.reservation_id IS NOT NULL THEN NEW.delta ELSE 0 END, 0) END,
    jsonb_build_object('movement_id', NEW.id, 'delta', NEW.delta, 'reason', NEW.reason, 'note', NEW.note,
                       'reference', NEW.reference, 'transfer_id', NEW.transfer_id,
                       'reservation_id', NEW.reservation_id));
  RETURN NULL;
END;
$$;
CREATE TRIGGER events_stock_moved AFTER INSERT ON stock_movements
  FOR EACH ROW EXECUTE FUNCTION events_stock_moved();

-- stock.reserved, stock.released, stock.expired (a fulfilment publishes its movement).
-- An expired reservation stopped counting at its expiry: its event says what was
-- available before then.
CREATE FUNCTION events_reservations() RETURNS trigger
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
CREATE TRIGGER events_reservations_created AFTER INSERT ON reservations
  FOR EACH ROW EXECUTE FUNCTION events_reservations();
CREATE TRIGGER events_reservations_closed AFTER UPDATE OF state ON reservations
  FOR EACH ROW WHEN (OLD.state = 'open' AND NEW.state IN ('released', 'expired'))
  EXECUTE FUNCTION events_reservations();

-- Closes open reservations past their expiry (at most `batch`), each publishing
-- stock.expired. They stopped counting at expiry already; this makes it known.
CREATE FUNCTION reservations_expire(batch integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  closed integer;
BEGIN
  -- Product, then its levels, as every stock change locks them; skipping what
  -- another transaction holds (it is closed on a later call).
  WITH due AS (
    SELECT r.id FROM reservations r
    WHERE r.state = 'open' AND r.expires_at <= now()
    ORDER BY r.expires_at LIMIT batch
  ), locked_products AS (
    SELECT p.id FROM products p
    WHERE p.id IN (SELECT r.product_id FROM reservations r JOIN due ON due.id = r.id)
    ORDER BY p.id FOR NO KEY UPDATE SKIP LOCKED
  ), locked AS (
    SELECT r.id FROM reservations r JOIN due ON due.id = r.id
    WHERE r.product_id IN (SELECT id FROM locked_products)
    ORDER BY r.id FOR UPDATE SKIP LOCKED
  )
  UPDATE reservations r SET state = 'expired', closed_at = r.expires_at
  FROM locked WHERE r.id = locked.id AND r.state = 'open';
  GET DIAGNOSTICS closed = ROW_COUNT;
  RETURN closed;
END;
$$;

-- migrate:down

DROP FUNCTION reservations_expire(integer);
DROP TRIGGER events_reservations_closed ON reservations;
DROP TRIGGER events_reservations_created ON reservations;
DROP FUNCTION events_reservations();
DROP TRIGGER events_stock_moved ON stock_movements;
DROP FUNCTION events_stock_moved();
DROP TRIGGER events_categories ON categories;
DROP FUNCTION events_categories();
DROP TRIGGER events_products_changed ON products;
DROP FUNCTION events_products_changed();
DROP TRIGGER events_products_created ON products;
DROP FUNCTION events_products_created();
DROP FUNCTION event_level_publish(text, bigint, bigint, integer, integer, integer, jsonb);
DROP FUNCTION event_product(products, text);
DROP FUNCTION events_prune(interval, integer);
DROP FUNCTION events_publish(integer);
DROP TABLE event_publisher;
DROP TABLE events;
