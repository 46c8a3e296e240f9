-- migrate:up transaction:false

-- Index: the words of names and descriptions (GET /products?q=).
-- Without fastupdate: every write updates the index itself, instead of a pending
-- list that each search would read through until VACUUM merges it (at up to 4 MB,
-- tens of milliseconds a search).
-- Built CONCURRENTLY, so products stay writable while it is built on a large
-- catalog; such a statement runs outside a transaction, alone in its file. If
-- the build fails it leaves an invalid index: drop it (DROP INDEX CONCURRENTLY
-- products_search_idx) and run dbmate up again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS products_search_idx ON products USING gin (product_search_vector(name, description))
  WITH (fastupdate = off);

-- migrate:down

DROP INDEX IF EXISTS products_search_idx;
