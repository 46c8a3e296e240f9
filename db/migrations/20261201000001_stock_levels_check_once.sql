-- migrate:up

-- A level written by a movement (stock_movements_set_level, a trigger, so at
-- trigger depth 1) is checked at commit by that movement's own
-- stock_movements_follow_ledger, which compares the level with the latest
-- movement as stock_levels_in_ledger does. Only writes made outside a trigger
-- (a statement on stock_levels, stock_lock_level creating an empty level) need
-- this check, and only they queue it now: one check a movement instead of two
-- (bench/trigger-cost.ts, BENCH_TRIGGERS=levels, measures what it costs).
DROP TRIGGER stock_levels_in_ledger ON stock_levels;
CREATE CONSTRAINT TRIGGER stock_levels_in_ledger
  AFTER INSERT OR UPDATE OF on_hand ON stock_levels
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION stock_levels_in_ledger();

-- migrate:down

DROP TRIGGER stock_levels_in_ledger ON stock_levels;
CREATE CONSTRAINT TRIGGER stock_levels_in_ledger
  AFTER INSERT OR UPDATE OF on_hand ON stock_levels
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION stock_levels_in_ledger();
