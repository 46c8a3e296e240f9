-- migrate:up transaction:false

-- Index: the same within a category (GET /products?sku_prefix=&category=), as
-- every listing order has one led by category_id.
-- Built CONCURRENTLY, so products stay writable while it is built on a large
-- catalog; such a statement runs outside a transaction, alone in its file. If
-- the build fails it leaves an invalid index: drop it (DROP INDEX CONCURRENTLY
-- products_category_sku_order_idx) and run dbmate up again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS products_category_sku_order_idx
  ON products (category_id, lower(sku) COLLATE "C", id) WHERE archived_at IS NULL;

-- migrate:down

DROP INDEX IF EXISTS products_category_sku_order_idx;
