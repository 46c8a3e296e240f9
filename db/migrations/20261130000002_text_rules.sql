-- migrate:up

-- What text may hold, as the API and the import check it (src/http/text.ts;
-- a test holds these functions equal to it over every code point).
--
-- A name (of a product or a category) is one visible line: no control
-- characters (Unicode Cc), no line or paragraph separators (Zl, Zp), no
-- invisible format characters (Cf, as of Unicode 17: soft hyphen, zero-width
-- spaces, bidirectional controls, byte order mark, tag characters...). The
-- zero-width non-joiner and joiner (U+200C, U+200D) are kept inside a name,
-- not at either end: Persian and Indic scripts need them, and emoji sequences
-- are joined by them.
CREATE FUNCTION is_clean_name(value text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN value !~ '[\u0001-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b\u200e-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]'
  AND value !~ '^[\u200c\u200d]|[\u200c\u200d]$';

-- Free text (descriptions, stock notes) may hold tab, line feed and carriage
-- return, and no other control character.
CREATE FUNCTION is_clean_text(value text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN value !~ '[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]';

-- Rows written before these rules are brought under them first. In names,
-- format characters are removed, runs of control characters and line or
-- paragraph separators become one space, and the result is trimmed; a name
-- left empty becomes 'Product <id>' ('Category <id>'), and one that now equals
-- another's (case-insensitively, among active products; among all categories)
-- gets ' (<id>)' appended. In descriptions, each forbidden control character
-- becomes a space. (Stock notes follow the free-text rule in the API and the
-- import; the ledger is history, rewritten by no migration, so the database
-- does not hold old notes to it.)
UPDATE products SET description = regexp_replace(description, '[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]', ' ', 'g')
WHERE NOT is_clean_text(description);
UPDATE categories SET description = regexp_replace(description, '[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]', ' ', 'g')
WHERE NOT is_clean_text(description);

WITH cleaned AS (
  SELECT id, archived_at IS NULL AS active,
         coalesce(nullif(btrim(
           regexp_replace(
             regexp_replace(name, '[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b\u200e-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]', '', 'g'),
             '[\u0001-\u001f\u007f-\u009f\u2028\u2029]+', ' ', 'g'),
           E'\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\u200c\u200d'), ''),
           'Product ' || id) AS name
  FROM products WHERE NOT is_clean_name(name)
)
UPDATE products p
SET name = CASE
  WHEN c.active AND (
    EXISTS (SELECT 1 FROM products o
            WHERE o.archived_at IS NULL AND o.id <> c.id AND is_clean_name(o.name) AND lower(o.name) = lower(c.name))
    OR EXISTS (SELECT 1 FROM cleaned o WHERE o.active AND o.id < c.id AND lower(o.name) = lower(c.name)))
  THEN left(c.name, 200 - char_length(' (' || c.id || ')')) || ' (' || c.id || ')'
  ELSE c.name END
FROM cleaned c
WHERE p.id = c.id;

WITH cleaned AS (
  SELECT id,
         coalesce(nullif(btrim(
           regexp_replace(
             regexp_replace(name, '[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b\u200e-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]', '', 'g'),
             '[\u0001-\u001f\u007f-\u009f\u2028\u2029]+', ' ', 'g'),
           E'\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\u200c\u200d'), ''),
           'Category ' || id) AS name
  FROM categories WHERE NOT is_clean_name(name)
)
UPDATE categories k
SET name = CASE
  WHEN EXISTS (SELECT 1 FROM categories o WHERE o.id <> c.id AND is_clean_name(o.name) AND lower(o.name) = lower(c.name))
    OR EXISTS (SELECT 1 FROM cleaned o WHERE o.id < c.id AND lower(o.name) = lower(c.name))
  THEN left(c.name, 100 - char_length(' (' || c.id || ')')) || ' (' || c.id || ')'
  ELSE c.name END
FROM cleaned c
WHERE k.id = c.id;

-- The checks spell the functions' patterns out (one pattern per column)
-- instead of calling them: a check that calls a SQL function inlines it on
-- every statement that writes a row, which cost a single-row insert about
-- 100 µs of PostgreSQL's CPU (measured with pgbench on the create statement);
-- a pattern is compiled once per session. A test holds the checks, the
-- functions and the API equal over every code point.
ALTER TABLE categories
  ADD CONSTRAINT categories_name_visible CHECK (name !~ '[\u0001-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b\u200e-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]|^[\u200c\u200d]|[\u200c\u200d]$'),
  ADD CONSTRAINT categories_description_clean CHECK (description !~ '[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]');
ALTER TABLE products
  ADD CONSTRAINT products_name_visible CHECK (name !~ '[\u0001-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b\u200e-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]|^[\u200c\u200d]|[\u200c\u200d]$'),
  ADD CONSTRAINT products_description_clean CHECK (description !~ '[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]');

-- migrate:down

-- Names and descriptions rewritten on the way up stay as they are.
ALTER TABLE products DROP CONSTRAINT products_name_visible, DROP CONSTRAINT products_description_clean;
ALTER TABLE categories DROP CONSTRAINT categories_name_visible, DROP CONSTRAINT categories_description_clean;
DROP FUNCTION is_clean_text(text);
DROP FUNCTION is_clean_name(text);
