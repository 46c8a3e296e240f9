-- migrate:up

-- Archive instead of delete: archived products leave listings and free their
-- name and SKU, but keep their rows and their stock history.
ALTER TABLE products ADD COLUMN archived_at timestamptz;

-- Bumped on every write; the API shows it as the product's ETag.
ALTER TABLE products ADD COLUMN version integer NOT NULL DEFAULT 1;

CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  NEW.version := OLD.version + 1;
  RETURN NEW;
END;
$$;

-- Names and SKUs are unique among active products only; listings read active products only.
DROP INDEX products_sku_key, products_name_key, products_category_name_idx, products_price_idx,
  products_category_price_idx, products_created_at_idx, products_category_created_at_idx;
CREATE UNIQUE INDEX products_sku_key ON products (lower(sku)) WHERE archived_at IS NULL;
CREATE UNIQUE INDEX products_name_key ON products (lower(name)) WHERE archived_at IS NULL;
CREATE INDEX products_category_name_idx ON products (category_id, lower(name)) WHERE archived_at IS NULL;
CREATE INDEX products_price_idx ON products (price, id) WHERE archived_at IS NULL;
CREATE INDEX products_category_price_idx ON products (category_id, price, id) WHERE archived_at IS NULL;
CREATE INDEX products_created_at_idx ON products (created_at, id) WHERE archived_at IS NULL;
CREATE INDEX products_category_created_at_idx ON products (category_id, created_at, id) WHERE archived_at IS NULL;
CREATE INDEX products_archived_idx ON products (archived_at, id) WHERE archived_at IS NOT NULL;

-- The stock ledger: every change of a product's quantity, in order. A product's
-- quantity always equals the sum of its movements' deltas.
CREATE TABLE stock_movements (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  product_id     bigint NOT NULL REFERENCES products (id) ON DELETE RESTRICT,
  delta          integer NOT NULL,
  reason         text NOT NULL,
  note           text,
  quantity_after integer NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT stock_movements_delta_nonzero CHECK (delta <> 0),
  CONSTRAINT stock_movements_reason_known CHECK (
    reason IN ('received', 'sold', 'returned', 'damaged', 'count_correction', 'initial')),
  CONSTRAINT stock_movements_note_length CHECK (char_length(note) <= 500),
  CONSTRAINT stock_movements_quantity_after_nonnegative CHECK (quantity_after >= 0)
);

CREATE INDEX stock_movements_product_idx ON stock_movements (product_id, id);

-- Products that already hold stock get the movement that explains it.
INSERT INTO stock_movements (product_id, delta, reason, note, quantity_after, created_at)
SELECT id, quantity, 'initial', 'stock before the ledger existed', quantity, created_at
FROM products WHERE quantity > 0
ORDER BY id;

-- Idempotency keys: the first request with a key runs, repeats get its stored
-- response. A row without status is a request still running.
CREATE TABLE idempotency_keys (
  method           text NOT NULL,
  path             text NOT NULL,
  key              text NOT NULL,
  request_hash     text NOT NULL,
  status           integer,
  response_headers jsonb,
  response_body    text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL DEFAULT now() + interval '24 hours',
  PRIMARY KEY (method, path, key),
  CONSTRAINT idempotency_keys_key_length CHECK (char_length(key) BETWEEN 1 AND 255)
);

CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);

-- migrate:down

-- The earlier schema has no archive and no ledger. Refused while either holds
-- something it cannot keep: archived products (they would come back as active,
-- and may share a name or SKU with an active one), and stock history beyond a
-- product's single initial movement (which `up` writes again from the quantity).
-- Stored idempotency keys are short-lived and go with their table.
DO $$
DECLARE
  archived bigint := (SELECT count(*) FROM products WHERE archived_at IS NOT NULL);
  histories bigint;
  movements bigint;
BEGIN
  SELECT count(*), coalesce(sum(n), 0) INTO histories, movements
  FROM (SELECT m.product_id, count(*) AS n
        FROM stock_movements m JOIN products p ON p.id = m.product_id
        GROUP BY m.product_id, p.quantity
        HAVING count(*) > 1 OR bool_or(m.reason <> 'initial' OR m.delta <> p.quantity OR m.quantity_after <> p.quantity)) h;
  IF archived > 0 OR histories > 0 THEN
    RAISE EXCEPTION 'cannot roll back 20261122000002_stock_ledger_archive_idempotency without loss: % archived products would become active again, and % products have stock history (% movements) the earlier schema cannot keep',
                    archived, histories, movements
      USING HINT = 'export them, then delete the archived products and the stock movements of those products first if they are really to go';
  END IF;
END;
$$;
DROP TABLE idempotency_keys;
DROP TABLE stock_movements;
DROP INDEX products_archived_idx, products_sku_key, products_name_key, products_category_name_idx,
  products_price_idx, products_category_price_idx, products_created_at_idx, products_category_created_at_idx;
ALTER TABLE products DROP COLUMN version, DROP COLUMN archived_at;
CREATE UNIQUE INDEX products_sku_key ON products (lower(sku));
CREATE UNIQUE INDEX products_name_key ON products (lower(name));
CREATE INDEX products_category_name_idx ON products (category_id, lower(name));
CREATE INDEX products_price_idx ON products (price, id);
CREATE INDEX products_category_price_idx ON products (category_id, price, id);
CREATE INDEX products_created_at_idx ON products (created_at, id);
CREATE INDEX products_category_created_at_idx ON products (category_id, created_at, id);
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;
