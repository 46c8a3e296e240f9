-- migrate:up transaction:false

-- Index: active products' SKUs in byte order, for prefixes (GET /products?sku_prefix=)
-- and the SKU order of their pages: a prefix is a range of it.
-- Built CONCURRENTLY, so products stay writable while it is built on a large
-- catalog; such a statement runs outside a transaction, alone in its file. If
-- the build fails it leaves an invalid index: drop it (DROP INDEX CONCURRENTLY
-- products_sku_order_idx) and run dbmate up again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS products_sku_order_idx ON products (lower(sku) COLLATE "C", id)
  WHERE archived_at IS NULL;

-- migrate:down

DROP INDEX IF EXISTS products_sku_order_idx;
