-- migrate:up

-- Stock by location. A product's stock is kept per location, in stock levels:
-- on hand (what is on the shelf) and reserved (what open, unexpired
-- reservations promise); available = on hand - reserved. The ledger stays the
-- single truth: every movement names its location, a level's on_hand is its
-- latest movement's quantity_after, and a product's quantity is the sum of its
-- levels' on_hand (checked at commit, SQLSTATE 23L02).
--
-- Every change of stock goes through the functions below (stock_adjust,
-- stock_transfer, stock_reserve, stock_release, stock_fulfil), which the API
-- calls and psql users may call too. Each locks, in this order, the product
-- row, then its levels in location id order, and only then reads what it
-- decides on: in READ COMMITTED each statement of a function sees what
-- committed before it, and the locks keep anything else from changing the
-- level until commit. So PostgreSQL decides every race (two sales of the last
-- unit, a sale and a reservation), and two writers never wait on each other in
-- opposite orders. Errors carry SQLSTATEs of class IV, which the API answers:
--   IV001 no such active product      IV002 no such active location
--   IV003 not enough available stock  IV004 on hand differs from expected_on_hand
--   IV005 no such reservation         IV006 the reservation is not open (state in DETAIL)
--   IV007 the location holds stock or open reservations (archive refused)

CREATE TABLE locations (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  code        text NOT NULL,
  name        text NOT NULL,
  is_default  boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  archived_at timestamptz,
  CONSTRAINT locations_code_format CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$'),
  CONSTRAINT locations_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
  CONSTRAINT locations_name_trimmed CHECK (name !~ '^[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]|[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]$'),
  CONSTRAINT locations_name_visible CHECK (is_clean_name(name)),
  CONSTRAINT locations_default_active CHECK (NOT is_default OR archived_at IS NULL)
);
-- Codes are unique case-insensitively, archived locations included: a code names one place for good.
CREATE UNIQUE INDEX locations_code_key ON locations (lower(code));
CREATE UNIQUE INDEX locations_one_default ON locations (is_default) WHERE is_default;

CREATE FUNCTION locations_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE TRIGGER locations_set_updated_at BEFORE UPDATE ON locations
  FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION locations_set_updated_at();

INSERT INTO locations (code, name, is_default) VALUES ('DEFAULT', 'Default location', true);

CREATE TABLE stock_levels (
  product_id    bigint NOT NULL REFERENCES products (id) ON DELETE RESTRICT,
  location_id   bigint NOT NULL REFERENCES locations (id) ON DELETE RESTRICT,
  on_hand       integer NOT NULL DEFAULT 0,
  reorder_point integer,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (product_id, location_id),
  CONSTRAINT stock_levels_on_hand_nonnegative CHECK (on_hand >= 0),
  CONSTRAINT stock_levels_reorder_point_nonnegative CHECK (reorder_point >= 0)
);
CREATE INDEX stock_levels_location_idx ON stock_levels (location_id, product_id);

CREATE TABLE transfers (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  product_id       bigint NOT NULL REFERENCES products (id) ON DELETE RESTRICT,
  from_location_id bigint NOT NULL REFERENCES locations (id) ON DELETE RESTRICT,
  to_location_id   bigint NOT NULL REFERENCES locations (id) ON DELETE RESTRICT,
  quantity         integer NOT NULL,
  note             text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT transfers_quantity_positive CHECK (quantity > 0),
  CONSTRAINT transfers_two_locations CHECK (from_location_id <> to_location_id),
  CONSTRAINT transfers_note_length CHECK (char_length(note) <= 500)
);
-- GET /transfers, newest first: all, by product, by either location.
CREATE INDEX transfers_product_idx ON transfers (product_id, id);
CREATE INDEX transfers_from_location_idx ON transfers (from_location_id, id);
CREATE INDEX transfers_to_location_idx ON transfers (to_location_id, id);

CREATE TABLE reservations (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  product_id  bigint NOT NULL,
  location_id bigint NOT NULL,
  quantity    integer NOT NULL,
  expires_at  timestamptz NOT NULL,
  reference   text,
  state       text NOT NULL DEFAULT 'open',
  created_at  timestamptz NOT NULL DEFAULT now(),
  closed_at   timestamptz,
  FOREIGN KEY (product_id, location_id) REFERENCES stock_levels (product_id, location_id) ON DELETE RESTRICT,
  CONSTRAINT reservations_quantity_positive CHECK (quantity > 0),
  CONSTRAINT reservations_state_known CHECK (state IN ('open', 'released', 'fulfilled', 'expired')),
  CONSTRAINT reservations_closed_when_not_open CHECK ((state = 'open') = (closed_at IS NULL)),
  CONSTRAINT reservations_reference_length CHECK (char_length(reference) BETWEEN 1 AND 100)
);
-- What a level has reserved: its open reservations (those past expiry are skipped when read).
CREATE INDEX reservations_open_idx ON reservations (product_id, location_id, expires_at) WHERE state = 'open';
CREATE INDEX reservations_product_idx ON reservations (product_id, id);
CREATE INDEX reservations_location_idx ON reservations (location_id, id);
CREATE INDEX reservations_reference_idx ON reservations (reference, id) WHERE reference IS NOT NULL;

-- Movements name their location (existing ones, and any written without one, the
-- default location), and where they apply, their transfer or reservation and an
-- external reference such as an order number. A constant default adds the column
-- without rewriting the ledger.
DO $$
BEGIN
  EXECUTE format('ALTER TABLE stock_movements ADD COLUMN location_id bigint NOT NULL DEFAULT %s',
                 (SELECT id FROM locations WHERE is_default));
END;
$$;
ALTER TABLE stock_movements
  ADD CONSTRAINT stock_movements_location_id_fkey FOREIGN KEY (location_id) REFERENCES locations (id) ON DELETE RESTRICT,
  ADD COLUMN transfer_id bigint REFERENCES transfers (id) ON DELETE RESTRICT,
  ADD COLUMN reservation_id bigint REFERENCES reservations (id) ON DELETE RESTRICT,
  ADD COLUMN reference text,
  ADD CONSTRAINT stock_movements_reference_length CHECK (char_length(reference) BETWEEN 1 AND 100),
  DROP CONSTRAINT stock_movements_reason_known,
  ADD CONSTRAINT stock_movements_reason_known CHECK (
    reason IN ('received', 'sold', 'returned', 'damaged', 'count_correction', 'initial', 'transfer_out', 'transfer_in')),
  ADD CONSTRAINT stock_movements_transfer_reason CHECK ((transfer_id IS NOT NULL) = (reason IN ('transfer_out', 'transfer_in')));

-- The levels of the stock held before locations existed: all at the default location.
INSERT INTO stock_levels (product_id, location_id, on_hand)
SELECT p.id, l.id, p.quantity
FROM products p CROSS JOIN locations l
WHERE l.is_default AND EXISTS (SELECT 1 FROM stock_movements m WHERE m.product_id = p.id);

-- A movement sets its level's on_hand (creating the level on first use).
CREATE FUNCTION stock_movements_set_level() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO stock_levels AS l (product_id, location_id, on_hand)
  VALUES (NEW.product_id, NEW.location_id, NEW.quantity_after)
  ON CONFLICT (product_id, location_id) DO UPDATE SET on_hand = EXCLUDED.on_hand, updated_at = now();
  RETURN NULL;
END;
$$;

CREATE TRIGGER stock_movements_set_level
  AFTER INSERT ON stock_movements
  FOR EACH ROW EXECUTE FUNCTION stock_movements_set_level();

-- The checks at commit, now per level: a movement continues its level's chain,
-- a level's on_hand is its latest movement's quantity_after, a product's
-- quantity is the sum of its levels' on_hand.
CREATE OR REPLACE FUNCTION stock_movements_follow_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  previous integer;
  latest integer;
  level_on_hand integer;
BEGIN
  SELECT coalesce((SELECT m.quantity_after FROM stock_movements m
                   WHERE m.product_id = NEW.product_id AND m.location_id = NEW.location_id AND m.id < NEW.id
                   ORDER BY m.id DESC LIMIT 1), 0),
         (SELECT m.quantity_after FROM stock_movements m
          WHERE m.product_id = NEW.product_id AND m.location_id = NEW.location_id
          ORDER BY m.id DESC LIMIT 1),
         (SELECT l.on_hand FROM stock_levels l WHERE l.product_id = NEW.product_id AND l.location_id = NEW.location_id)
    INTO previous, latest, level_on_hand;
  IF previous::bigint + NEW.delta <> NEW.quantity_after THEN
    RAISE EXCEPTION 'stock movement % of product % at location %: quantity_after % is not the previous % plus delta %',
                    NEW.id, NEW.product_id, NEW.location_id, NEW.quantity_after, previous, NEW.delta
      USING ERRCODE = '23L02',
            HINT = 'quantity_after is the level''s on hand after this movement: the previous movement''s quantity_after at the same location (0 for the first) plus delta';
  END IF;
  IF level_on_hand IS DISTINCT FROM latest THEN
    RAISE EXCEPTION 'product % at location %: on hand % is not explained by the stock ledger, whose latest movement leaves %',
                    NEW.product_id, NEW.location_id, level_on_hand, latest
      USING ERRCODE = '23L02';
  END IF;
  PERFORM products_check_quantity(NEW.product_id);
  RETURN NULL;
END;
$$;

CREATE FUNCTION products_check_quantity(product bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  current integer;
  total bigint;
BEGIN
  SELECT p.quantity, (SELECT coalesce(sum(l.on_hand), 0) FROM stock_levels l WHERE l.product_id = p.id)
    INTO current, total
  FROM products p WHERE p.id = product;
  IF FOUND AND current <> total THEN
    RAISE EXCEPTION 'product %: quantity % is not explained by the stock ledger, whose levels hold % in all',
                    product, current, total
      USING ERRCODE = '23L02',
            HINT = 'change stock through stock_adjust (or a stock movement), which keeps quantity, levels and ledger together';
  END IF;
END;
$$;

CREATE OR REPLACE FUNCTION products_quantity_in_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM products_check_quantity(NEW.id);
  RETURN NULL;
END;
$$;

-- A level's on_hand changed other than by its movement (an UPDATE by hand).
CREATE FUNCTION stock_levels_in_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  current integer;
  latest integer;
BEGIN
  SELECT l.on_hand,
         coalesce((SELECT m.quantity_after FROM stock_movements m
                   WHERE m.product_id = l.product_id AND m.location_id = l.location_id
                   ORDER BY m.id DESC LIMIT 1), 0)
    INTO current, latest
  FROM stock_levels l WHERE l.product_id = NEW.product_id AND l.location_id = NEW.location_id;
  IF FOUND AND current <> latest THEN
    RAISE EXCEPTION 'product % at location %: on hand % is not explained by the stock ledger, whose latest movement leaves %',
                    NEW.product_id, NEW.location_id, current, latest
      USING ERRCODE = '23L02',
            HINT = 'change stock through stock_adjust (or a stock movement), which keeps quantity, levels and ledger together';
  END IF;
  RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER stock_levels_in_ledger
  AFTER INSERT OR UPDATE OF on_hand ON stock_levels
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION stock_levels_in_ledger();

-- ---------------------------------------------------------------------------
-- Reading a level

-- What a level's open reservations hold now: one past its expiry no longer counts.
CREATE FUNCTION stock_reserved(product bigint, location bigint) RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (SELECT coalesce(sum(r.quantity), 0)::integer FROM public.reservations r
        WHERE r.product_id = product AND r.location_id = location AND r.state = 'open' AND r.expires_at > now());

-- ---------------------------------------------------------------------------
-- Changing stock

-- Locks the active product, the active location and the level (created when new), in that order.
CREATE FUNCTION stock_lock_level(product bigint, location bigint) RETURNS stock_levels
LANGUAGE plpgsql AS $$
DECLARE
  level stock_levels;
BEGIN
  PERFORM 1 FROM products WHERE id = product AND archived_at IS NULL FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no product with id %', product USING ERRCODE = 'IV001';
  END IF;
  -- FOR SHARE: an archive (which takes FOR UPDATE) waits for this transaction, then sees its stock.
  PERFORM 1 FROM locations WHERE id = location AND archived_at IS NULL FOR SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no location with id %', location USING ERRCODE = 'IV002';
  END IF;
  INSERT INTO stock_levels (product_id, location_id) VALUES (product, location) ON CONFLICT DO NOTHING;
  SELECT * INTO level FROM stock_levels WHERE product_id = product AND location_id = location FOR UPDATE;
  RETURN level;
END;
$$;

-- The default location's id.
CREATE FUNCTION default_location() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (SELECT id FROM public.locations WHERE is_default);

-- What a change of stock wrote: its movement, and the product after it.
CREATE TYPE stock_change AS (movement stock_movements, product products);

-- Adds delta (negative: takes) to a level and records the movement. A decrease
-- may take only available stock (on hand less what open reservations hold).
-- With expected_on_hand, refused unless the level holds exactly that (compare
-- and set). Returns the movement and the product after it.
CREATE FUNCTION stock_adjust(product bigint, location bigint, delta integer, reason text,
                             note text DEFAULT NULL, reference text DEFAULT NULL,
                             expected_on_hand integer DEFAULT NULL, reservation bigint DEFAULT NULL)
RETURNS stock_change
LANGUAGE plpgsql AS $$
DECLARE
  level stock_levels;
  reserved integer;
  p products;
  m stock_movements;
BEGIN
  level := stock_lock_level(product, location);
  IF expected_on_hand IS NOT NULL AND level.on_hand <> expected_on_hand THEN
    RAISE EXCEPTION 'product % at location %: on hand is %, not the expected %', product, location, level.on_hand, expected_on_hand
      USING ERRCODE = 'IV004', DETAIL = level.on_hand::text;
  END IF;
  IF delta < 0 THEN
    reserved := stock_reserved(product, location);
    IF level.on_hand::bigint + delta < reserved THEN
      RAISE EXCEPTION 'product % at location %: % available (% on hand, % reserved), % asked',
                      product, location, greatest(level.on_hand - reserved, 0), level.on_hand, reserved, -delta
        USING ERRCODE = 'IV003', DETAIL = greatest(level.on_hand - reserved, 0)::text;
    END IF;
  END IF;
  UPDATE products SET quantity = quantity + delta WHERE id = product RETURNING * INTO p;
  INSERT INTO stock_movements (product_id, location_id, delta, reason, note, reference, reservation_id, quantity_after)
  VALUES (product, location, delta, reason, note, reference, reservation, level.on_hand + delta)
  RETURNING * INTO m;
  RETURN ROW(m, p)::stock_change;
END;
$$;

-- Moves stock between two locations: two movements (out and in) and both levels, or nothing.
CREATE FUNCTION stock_transfer(product bigint, from_location bigint, to_location bigint, quantity integer,
                               note text DEFAULT NULL)
RETURNS transfers
LANGUAGE plpgsql AS $$
DECLARE
  source stock_levels;
  target stock_levels;
  reserved integer;
  transfer transfers;
BEGIN
  IF from_location = to_location THEN
    RAISE EXCEPTION 'a transfer needs two locations' USING ERRCODE = '23514';
  END IF;
  -- Levels in location id order.
  IF from_location < to_location THEN
    source := stock_lock_level(product, from_location);
    target := stock_lock_level(product, to_location);
  ELSE
    target := stock_lock_level(product, to_location);
    source := stock_lock_level(product, from_location);
  END IF;
  reserved := stock_reserved(product, from_location);
  IF source.on_hand::bigint - quantity < reserved THEN
    RAISE EXCEPTION 'product % at location %: % available (% on hand, % reserved), % asked',
                    product, from_location, greatest(source.on_hand - reserved, 0), source.on_hand, reserved, quantity
      USING ERRCODE = 'IV003', DETAIL = greatest(source.on_hand - reserved, 0)::text;
  END IF;
  INSERT INTO transfers (product_id, from_location_id, to_location_id, quantity, note)
  VALUES (product, from_location, to_location, quantity, note)
  RETURNING * INTO transfer;
  INSERT INTO stock_movements (product_id, location_id, delta, reason, note, transfer_id, quantity_after)
  VALUES (product, from_location, -quantity, 'transfer_out', note, transfer.id, source.on_hand - quantity),
         (product, to_location, quantity, 'transfer_in', note, transfer.id, target.on_hand + quantity);
  RETURN transfer;
END;
$$;

-- Holds available stock for an order until it expires: open, it counts as reserved.
CREATE FUNCTION stock_reserve(product bigint, location bigint, quantity integer, expires_at timestamptz,
                              reference text DEFAULT NULL)
RETURNS reservations
LANGUAGE plpgsql AS $$
DECLARE
  level stock_levels;
  reserved integer;
  reservation reservations;
BEGIN
  IF expires_at <= now() THEN
    RAISE EXCEPTION 'a reservation must expire in the future' USING ERRCODE = '22023';
  END IF;
  level := stock_lock_level(product, location);
  -- Close what has expired, lazily: it no longer counts in any case.
  UPDATE reservations r SET state = 'expired', closed_at = r.expires_at
  WHERE r.product_id = product AND r.location_id = location AND r.state = 'open' AND r.expires_at <= now();
  reserved := stock_reserved(product, location);
  IF level.on_hand::bigint - reserved < quantity THEN
    RAISE EXCEPTION 'product % at location %: % available (% on hand, % reserved), % asked',
                    product, location, greatest(level.on_hand - reserved, 0), level.on_hand, reserved, quantity
      USING ERRCODE = 'IV003', DETAIL = greatest(level.on_hand - reserved, 0)::text;
  END IF;
  INSERT INTO reservations (product_id, location_id, quantity, expires_at, reference)
  VALUES (product, location, quantity, expires_at, reference)
  RETURNING * INTO reservation;
  RETURN reservation;
END;
$$;

-- The reservation, locked, when it is open and not expired; otherwise IV005 or IV006.
CREATE FUNCTION stock_open_reservation(reservation bigint) RETURNS reservations
LANGUAGE plpgsql AS $$
DECLARE
  r reservations;
BEGIN
  SELECT * INTO r FROM reservations WHERE id = reservation FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no reservation with id %', reservation USING ERRCODE = 'IV005';
  END IF;
  IF r.state = 'open' AND r.expires_at <= now() THEN
    UPDATE reservations SET state = 'expired', closed_at = r.expires_at WHERE id = reservation RETURNING * INTO r;
  END IF;
  IF r.state <> 'open' THEN
    RAISE EXCEPTION 'reservation % is %', reservation, r.state USING ERRCODE = 'IV006', DETAIL = r.state;
  END IF;
  RETURN r;
END;
$$;

-- Releases an open reservation: its stock is available again.
CREATE FUNCTION stock_release(reservation bigint) RETURNS reservations
LANGUAGE plpgsql AS $$
DECLARE
  r reservations;
BEGIN
  r := stock_open_reservation(reservation);
  UPDATE reservations SET state = 'released', closed_at = now() WHERE id = reservation RETURNING * INTO r;
  RETURN r;
END;
$$;

-- Fulfils an open reservation: a 'sold' movement of its whole quantity, with its reference.
CREATE FUNCTION stock_fulfil(reservation bigint, note text DEFAULT NULL) RETURNS stock_change
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

-- Archives a location that holds no stock and no open reservation (the default one stays).
CREATE FUNCTION location_archive(location bigint) RETURNS locations
LANGUAGE plpgsql AS $$
DECLARE
  l locations;
BEGIN
  SELECT * INTO l FROM locations WHERE id = location AND archived_at IS NULL FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no location with id %', location USING ERRCODE = 'IV002';
  END IF;
  IF l.is_default THEN
    RAISE EXCEPTION 'location % is the default location', location USING ERRCODE = 'IV007', DETAIL = 'default';
  END IF;
  IF EXISTS (SELECT 1 FROM stock_levels s WHERE s.location_id = location AND s.on_hand > 0) THEN
    RAISE EXCEPTION 'location % holds stock', location USING ERRCODE = 'IV007', DETAIL = 'stock';
  END IF;
  IF EXISTS (SELECT 1 FROM reservations r WHERE r.location_id = location AND r.state = 'open' AND r.expires_at > now()) THEN
    RAISE EXCEPTION 'location % has open reservations', location USING ERRCODE = 'IV007', DETAIL = 'reservations';
  END IF;
  UPDATE locations SET archived_at = now() WHERE id = location RETURNING * INTO l;
  RETURN l;
END;
$$;

-- migrate:down

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM stock_movements m JOIN locations l ON l.id = m.location_id WHERE NOT l.is_default)
     OR EXISTS (SELECT 1 FROM reservations) OR EXISTS (SELECT 1 FROM transfers) THEN
    RAISE EXCEPTION 'cannot roll back 20261130000009_stock_locations without loss: stock was kept at other locations than the default one, or transfers or reservations were recorded';
  END IF;
END;
$$;
DROP FUNCTION location_archive(bigint);
DROP FUNCTION stock_fulfil(bigint, text);
DROP FUNCTION stock_release(bigint);
DROP FUNCTION stock_open_reservation(bigint);
DROP FUNCTION stock_reserve(bigint, bigint, integer, timestamptz, text);
DROP FUNCTION stock_transfer(bigint, bigint, bigint, integer, text);
DROP FUNCTION stock_adjust(bigint, bigint, integer, text, text, text, integer, bigint);
DROP TYPE stock_change;
DROP FUNCTION default_location();
DROP FUNCTION stock_lock_level(bigint, bigint);
DROP FUNCTION stock_reserved(bigint, bigint);
DROP TRIGGER stock_levels_in_ledger ON stock_levels;
DROP FUNCTION stock_levels_in_ledger();
DROP TRIGGER stock_movements_set_level ON stock_movements;
DROP FUNCTION stock_movements_set_level();
-- The checks as they were: per product.
CREATE OR REPLACE FUNCTION products_quantity_in_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  current integer;
  ledger integer;
BEGIN
  SELECT p.quantity,
         coalesce((SELECT m.quantity_after FROM stock_movements m
                   WHERE m.product_id = p.id ORDER BY m.id DESC LIMIT 1), 0)
    INTO current, ledger
  FROM products p WHERE p.id = NEW.id;
  IF FOUND AND current <> ledger THEN
    RAISE EXCEPTION 'product %: quantity % is not explained by the stock ledger, whose latest movement leaves %',
                    NEW.id, current, ledger
      USING ERRCODE = '23L02',
            HINT = 'change a quantity only together with a stock movement whose quantity_after is the new quantity';
  END IF;
  RETURN NULL;
END;
$$;
CREATE OR REPLACE FUNCTION stock_movements_follow_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  previous integer;
  current integer;
  ledger integer;
BEGIN
  SELECT coalesce((SELECT m.quantity_after FROM stock_movements m
                   WHERE m.product_id = p.id AND m.id < NEW.id ORDER BY m.id DESC LIMIT 1), 0),
         p.quantity,
         (SELECT m.quantity_after FROM stock_movements m
          WHERE m.product_id = p.id ORDER BY m.id DESC LIMIT 1)
    INTO previous, current, ledger
  FROM products p WHERE p.id = NEW.product_id;
  IF previous::bigint + NEW.delta <> NEW.quantity_after THEN
    RAISE EXCEPTION 'stock movement % of product %: quantity_after % is not the previous % plus delta %',
                    NEW.id, NEW.product_id, NEW.quantity_after, previous, NEW.delta
      USING ERRCODE = '23L02',
            HINT = 'quantity_after is the product''s quantity after this movement: the previous movement''s quantity_after (0 for the first) plus delta';
  END IF;
  IF current <> ledger THEN
    RAISE EXCEPTION 'product %: quantity % is not explained by the stock ledger, whose latest movement leaves %',
                    NEW.product_id, current, ledger
      USING ERRCODE = '23L02',
            HINT = 'record a movement only together with the quantity change it explains, in the same transaction';
  END IF;
  RETURN NULL;
END;
$$;
DROP FUNCTION products_check_quantity(bigint);
ALTER TABLE stock_movements
  DROP CONSTRAINT stock_movements_transfer_reason,
  DROP CONSTRAINT stock_movements_reason_known,
  ADD CONSTRAINT stock_movements_reason_known CHECK (
    reason IN ('received', 'sold', 'returned', 'damaged', 'count_correction', 'initial')),
  DROP COLUMN reference,
  DROP COLUMN reservation_id,
  DROP COLUMN transfer_id,
  DROP COLUMN location_id;
DROP TABLE reservations;
DROP TABLE transfers;
DROP TABLE stock_levels;
DROP TABLE locations;
DROP FUNCTION locations_set_updated_at();
