-- migrate:up

-- Product search (GET /products?q=): the text of a product's name and
-- description as a full-text vector, matched word by word (each word also as
-- the start of a longer one), with misspelled words corrected from a list of
-- the words in use (search_words), as PostgreSQL's pg_trgm documentation
-- proposes: a trigram index finds the listed words similar to a query word,
-- and the full-text index finds the products with one of them. Case and
-- accents do not matter: both sides go through search_text. SKUs are matched
-- as text (exact, prefix, anywhere inside) through their own trigram index.
--
-- pg_trgm and unaccent ship with PostgreSQL (contrib) and are trusted
-- extensions: the database owner may create them. The indexes on products are
-- built by the next migrations, one each, CONCURRENTLY: see the README.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- Lower case without accents: 'Café' -> 'cafe', 'Straße' -> 'strasse'. Every
-- name is qualified, as an index expression runs with an empty search_path in
-- maintenance (VACUUM, REINDEX, restore). unaccent is STABLE only because it
-- reads its rules file; with the dictionary named, the result depends on the
-- text alone, so the function is declared IMMUTABLE (as the extension's
-- documentation suggests for indexes).
CREATE FUNCTION search_text(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN pg_catalog.lower(public.unaccent('public.unaccent'::regdictionary, value));

-- The words of a product, as products_search_idx indexes them: its name and
-- description through search_text, parsed by the 'simple' configuration (no
-- stemming and no stop words: a product's words are names, models, colours).
CREATE FUNCTION product_search_vector(name text, description text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN pg_catalog.to_tsvector('pg_catalog.simple'::regconfig,
                              public.search_text(coalesce(name, '') || ' ' || coalesce(description, '')));

-- The words that occur in products (letters only, three or more), from which
-- a misspelled query word is corrected. Words are added as products are
-- written and never removed: a word no product holds any more only makes a
-- query look for it too.
CREATE TABLE search_words (
  word text PRIMARY KEY
);
CREATE INDEX search_words_trigram_idx ON search_words USING gin (word gin_trgm_ops);

CREATE FUNCTION search_words_of(name text, description text) RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
  SELECT w FROM pg_catalog.unnest(pg_catalog.tsvector_to_array(public.product_search_vector(name, description))) AS w
  WHERE w OPERATOR(pg_catalog.~) '^[[:alpha:]]{3,}$';
END;

CREATE FUNCTION search_words_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO search_words (word)
  SELECT DISTINCT w FROM added a, search_words_of(a.name, a.description) w
  ORDER BY 1
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END;
$$;

CREATE FUNCTION search_words_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO search_words (word)
  SELECT DISTINCT w FROM search_words_of(NEW.name, NEW.description) w
  ORDER BY 1
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END;
$$;

-- One statement's new products at once (an import adds thousands); an edit
-- adds its words only when the name or description changed.
CREATE TRIGGER products_search_words_added
  AFTER INSERT ON products REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION search_words_added();

CREATE TRIGGER products_search_words_changed
  AFTER UPDATE OF name, description ON products
  FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.description IS DISTINCT FROM NEW.description)
  EXECUTE FUNCTION search_words_changed();

-- migrate:down

DROP TRIGGER products_search_words_changed ON products;
DROP TRIGGER products_search_words_added ON products;
DROP FUNCTION search_words_changed();
DROP FUNCTION search_words_added();
DROP FUNCTION search_words_of(text, text);
DROP TABLE search_words;
DROP FUNCTION product_search_vector(text, text);
DROP FUNCTION search_text(text);
-- Refused (and the rollback with it) when anything else in the database uses them.
DROP EXTENSION unaccent;
DROP EXTENSION pg_trgm;
