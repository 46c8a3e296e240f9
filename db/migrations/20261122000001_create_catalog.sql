-- migrate:up

CREATE TABLE categories (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL,
  description text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT categories_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
  -- No leading or trailing whitespace, as the API trims it (JavaScript's trim: Unicode spaces too).
  CONSTRAINT categories_name_trimmed CHECK (name !~ '^[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]|[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]$')
);

-- Category names are unique whatever their case: "Tools" and "tools" are one category.
CREATE UNIQUE INDEX categories_name_key ON categories (lower(name));

CREATE TABLE products (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sku         text NOT NULL,
  name        text NOT NULL,
  description text,
  price       numeric(10, 2) NOT NULL,
  quantity    integer NOT NULL DEFAULT 0,
  category_id bigint NOT NULL REFERENCES categories (id) ON DELETE RESTRICT,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT products_sku_format CHECK (sku ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  CONSTRAINT products_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
  CONSTRAINT products_name_trimmed CHECK (name !~ '^[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]|[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]$'),
  CONSTRAINT products_description_length CHECK (char_length(description) <= 2000),
  CONSTRAINT products_price_nonnegative CHECK (price >= 0),
  CONSTRAINT products_quantity_nonnegative CHECK (quantity >= 0)
);

-- Unique whatever the case; these also serve the lookups by SKU and the name-sorted listing.
CREATE UNIQUE INDEX products_sku_key ON products (lower(sku));
CREATE UNIQUE INDEX products_name_key ON products (lower(name));

-- One index per listing, so a page reads only the rows it returns.
-- Names are unique, so the name indexes need no id tie-breaker.
CREATE INDEX products_category_name_idx ON products (category_id, lower(name));
CREATE INDEX products_price_idx ON products (price, id);
CREATE INDEX products_category_price_idx ON products (category_id, price, id);
CREATE INDEX products_created_at_idx ON products (created_at, id);
CREATE INDEX products_category_created_at_idx ON products (category_id, created_at, id);

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE TRIGGER products_set_updated_at
  BEFORE UPDATE ON products
  FOR EACH ROW
  WHEN (OLD.* IS DISTINCT FROM NEW.*)
  EXECUTE FUNCTION set_updated_at();

-- migrate:down

-- Rolling back would drop the catalog itself: refused while it holds rows.
DO $$
DECLARE
  products bigint := (SELECT count(*) FROM products);
  categories bigint := (SELECT count(*) FROM categories);
BEGIN
  IF products > 0 OR categories > 0 THEN
    RAISE EXCEPTION 'cannot roll back 20261122000001_create_catalog: it would drop % products and % categories',
                    products, categories
      USING HINT = 'export the catalog and delete its products and categories first if they are really to go';
  END IF;
END;
$$;
DROP TABLE products;
DROP FUNCTION set_updated_at();
DROP TABLE categories;
