-- migrate:up

-- The stock ledger is kept by PostgreSQL for every client, not only the API:
--   * stock movements are append-only: UPDATE, DELETE and TRUNCATE are refused
--     (SQLSTATE 23L01), by triggers that hold for the owner too;
--   * a product's quantity changes only together with the movement that
--     records it: at commit, every product whose quantity was written holds
--     the quantity_after of its latest movement (0 without any), and every new
--     movement continues its product's chain (the previous movement's
--     quantity_after, or 0, plus its delta) (SQLSTATE 23L02).
-- The checks are deferred to commit, so a transaction may write the product
-- and the movement in either order and in separate statements. Writers of one
-- product serialize on its row: a movement's delta is never 0, so it comes
-- with a quantity change, which locks the product row until commit.

CREATE FUNCTION stock_movements_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'stock movements are append-only: % on stock_movements is refused', TG_OP
    USING ERRCODE = '23L01',
          HINT = 'record a new movement (with the quantity change it explains) instead';
END;
$$;

CREATE TRIGGER stock_movements_append_only
  BEFORE UPDATE OR DELETE ON stock_movements
  FOR EACH ROW EXECUTE FUNCTION stock_movements_append_only();

CREATE TRIGGER stock_movements_no_truncate
  BEFORE TRUNCATE ON stock_movements
  FOR EACH STATEMENT EXECUTE FUNCTION stock_movements_append_only();

-- A product's quantity must be the quantity_after of its latest movement.
CREATE FUNCTION products_quantity_in_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  current integer;
  ledger integer;
BEGIN
  SELECT p.quantity,
         coalesce((SELECT m.quantity_after FROM stock_movements m
                   WHERE m.product_id = p.id ORDER BY m.id DESC LIMIT 1), 0)
    INTO current, ledger
  FROM products p WHERE p.id = NEW.id;
  IF FOUND AND current <> ledger THEN
    RAISE EXCEPTION 'product %: quantity % is not explained by the stock ledger, whose latest movement leaves %',
                    NEW.id, current, ledger
      USING ERRCODE = '23L02',
            HINT = 'change a quantity only together with a stock movement whose quantity_after is the new quantity';
  END IF;
  RETURN NULL;
END;
$$;

-- A new movement must continue its product's chain and leave the product's quantity.
CREATE FUNCTION stock_movements_follow_ledger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  previous integer;
  current integer;
  ledger integer;
BEGIN
  SELECT coalesce((SELECT m.quantity_after FROM stock_movements m
                   WHERE m.product_id = p.id AND m.id < NEW.id ORDER BY m.id DESC LIMIT 1), 0),
         p.quantity,
         (SELECT m.quantity_after FROM stock_movements m
          WHERE m.product_id = p.id ORDER BY m.id DESC LIMIT 1)
    INTO previous, current, ledger
  FROM products p WHERE p.id = NEW.product_id;
  IF previous::bigint + NEW.delta <> NEW.quantity_after THEN
    RAISE EXCEPTION 'stock movement % of product %: quantity_after % is not the previous % plus delta %',
                    NEW.id, NEW.product_id, NEW.quantity_after, previous, NEW.delta
      USING ERRCODE = '23L02',
            HINT = 'quantity_after is the product''s quantity after this movement: the previous movement''s quantity_after (0 for the first) plus delta';
  END IF;
  IF current <> ledger THEN
    RAISE EXCEPTION 'product %: quantity % is not explained by the stock ledger, whose latest movement leaves %',
                    NEW.product_id, current, ledger
      USING ERRCODE = '23L02',
            HINT = 'record a movement only together with the quantity change it explains, in the same transaction';
  END IF;
  RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER products_quantity_in_ledger_insert
  AFTER INSERT ON products
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.quantity <> 0)
  EXECUTE FUNCTION products_quantity_in_ledger();

-- Not UPDATE OF quantity: that would miss a quantity changed by a BEFORE trigger.
CREATE CONSTRAINT TRIGGER products_quantity_in_ledger_update
  AFTER UPDATE ON products
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.quantity <> OLD.quantity)
  EXECUTE FUNCTION products_quantity_in_ledger();

CREATE CONSTRAINT TRIGGER stock_movements_follow_ledger
  AFTER INSERT ON stock_movements
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW
  EXECUTE FUNCTION stock_movements_follow_ledger();

-- Roles that were given UPDATE, DELETE or TRUNCATE on the ledger (the API
-- role, through the owner's default privileges) lose them.
DO $$
DECLARE
  grantee regrole;
BEGIN
  FOR grantee IN
    SELECT DISTINCT a.grantee::regrole
    FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
    WHERE c.oid = 'stock_movements'::regclass AND a.grantee <> 0 AND a.grantee <> c.relowner
      AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
  LOOP
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON stock_movements FROM %s', grantee);
  END LOOP;
END;
$$;

-- migrate:down

DROP TRIGGER stock_movements_follow_ledger ON stock_movements;
DROP TRIGGER products_quantity_in_ledger_update ON products;
DROP TRIGGER products_quantity_in_ledger_insert ON products;
DROP TRIGGER stock_movements_no_truncate ON stock_movements;
DROP TRIGGER stock_movements_append_only ON stock_movements;
DROP FUNCTION stock_movements_follow_ledger();
DROP FUNCTION products_quantity_in_ledger();
DROP FUNCTION stock_movements_append_only();
-- Roles that may insert movements get back UPDATE and DELETE, as before.
DO $$
DECLARE
  grantee regrole;
BEGIN
  FOR grantee IN
    SELECT DISTINCT a.grantee::regrole
    FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
    WHERE c.oid = 'stock_movements'::regclass AND a.grantee <> 0 AND a.grantee <> c.relowner
      AND a.privilege_type = 'INSERT'
  LOOP
    EXECUTE format('GRANT UPDATE, DELETE ON stock_movements TO %s', grantee);
  END LOOP;
END;
$$;
