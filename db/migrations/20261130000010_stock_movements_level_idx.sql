-- migrate:up transaction:false

-- Index: a level's movements in order, which the ledger's checks read at every
-- commit that changes stock (its previous and latest movement).
-- Built CONCURRENTLY, so the ledger stays writable while it is built; if the
-- build fails, drop the invalid index (DROP INDEX CONCURRENTLY
-- stock_movements_level_idx) and run dbmate up again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS stock_movements_level_idx ON stock_movements (product_id, location_id, id);

-- migrate:down

DROP INDEX IF EXISTS stock_movements_level_idx;
