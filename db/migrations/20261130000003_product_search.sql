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
-- pg_trgm, unaccent and fuzzystrmatch ship with PostgreSQL (contrib) and are
-- trusted extensions: the database owner may create them. The indexes on products are
-- built by the next migrations, one each, CONCURRENTLY: see the README.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;

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
CREATE INDEX search_words_trigram_idx ON search_words USING gin (word gin_trgm_ops) WITH (fastupdate = off);

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

-- A word as a quoted tsquery lexeme: 'word', with quotes and backslashes escaped.
CREATE FUNCTION quote_lexeme(word text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN '''' || pg_catalog.replace(pg_catalog.replace(word, '\', '\\'), '''', '''''') || '''';

-- The full-text query of a search text. Every word of it (as the parser
-- splits it: hyphenated words as their parts; no white space, markup or
-- single characters) must match, as one of:
--   * the word itself;
--   * for a word of three or more letters, the words in use that start with
--     it ('keyb' -> 'keyboard') or are at most one letter away from it (two
--     from a word of six letters or more; a swap of two letters is two), found
--     through search_words' trigram index (pg_trgm's LIKE and % operators) and
--     kept by edit distance (fuzzystrmatch);
--   * for a word of three or more characters with a digit, any word that
--     starts with it ('m12' -> 'm1234').
-- Words in use are named one by one rather than as a prefix (word:*): the
-- full-text index finds a named word through its posting list and skips
-- through the others', while a prefix unions every posting list it covers.
-- NULL when the text has no word.
CREATE FUNCTION product_search_query(search text) RETURNS tsquery
LANGUAGE sql STABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
  SELECT pg_catalog.string_agg('(' || alternatives.lexemes || ')', ' & ' ORDER BY w.word)::pg_catalog.tsquery
  FROM (SELECT DISTINCT t.token AS word
        FROM pg_catalog.ts_parse('default', public.search_text(search)) AS t
        WHERE t.tokid NOT IN (12, 13, 14, 15, 16, 17, 23) AND pg_catalog.char_length(t.token) > 1) AS w,
       LATERAL (
         SELECT CASE
           WHEN w.word OPERATOR(pg_catalog.~) '^[[:alpha:]]{3,}$' THEN
             public.quote_lexeme(w.word) || coalesce((
               SELECT pg_catalog.string_agg(' | ' || public.quote_lexeme(s.word), '' ORDER BY s.word)
               FROM public.search_words s
               WHERE s.word <> w.word
                 AND (s.word OPERATOR(pg_catalog.~~) (w.word || '%')
                      OR (s.word OPERATOR(public.%) w.word
                          AND public.levenshtein_less_equal(s.word, w.word, 2)
                              <= CASE WHEN pg_catalog.char_length(w.word) >= 6 THEN 2 ELSE 1 END))), '')
           WHEN pg_catalog.char_length(w.word) >= 3 THEN public.quote_lexeme(w.word) || ':*'
           ELSE public.quote_lexeme(w.word)
         END AS lexemes
       ) AS alternatives;
END;

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
DROP FUNCTION product_search_query(text);
DROP FUNCTION quote_lexeme(text);
DROP FUNCTION search_words_of(text, text);
DROP TABLE search_words;
DROP FUNCTION product_search_vector(text, text);
DROP FUNCTION search_text(text);
-- Refused (and the rollback with it) when anything else in the database uses them.
DROP EXTENSION fuzzystrmatch;
DROP EXTENSION unaccent;
DROP EXTENSION pg_trgm;
