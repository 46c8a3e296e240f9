/**
 * The schema contract, read from pg_catalog of a migrated database: what the
 * service relies on (types, NOT NULL, defaults, identities, constraints,
 * indexes and the updated_at trigger) is in the database itself.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// The text rules' patterns, spelled out in the checks (db/migrations/20261130000002_text_rules.sql).
const NAME_CHECK = String.raw`CHECK ((name !~ '[\u0001-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b\u200e-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]|^[\u200c\u200d]|[\u200c\u200d]$'::text))`;
const DESCRIPTION_CHECK = String.raw`CHECK ((description !~ '[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]'::text))`;

let t: TestDatabase;

beforeAll(async () => {
  t = await createTestDatabase();
});

afterAll(async () => {
  await t?.drop();
});

type Column = { type: string; notNull: boolean; default: string | null; identity: '' | 'always' | 'by default' };

/** Every column of a public table, by name, as pg_catalog describes it. */
async function columns(table: string): Promise<Record<string, Column>> {
  const rows = await t.sql<{ name: string; type: string; not_null: boolean; default: string | null; identity: string }[]>`
    SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
           pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity AS identity
    FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = ${`public.${table}`}::regclass AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum`;
  const identity = { '': '', a: 'always', d: 'by default' } as const;
  return Object.fromEntries(
    rows.map((r) => [r.name, { type: r.type, notNull: r.not_null, default: r.default, identity: identity[r.identity as 'a'] }]),
  );
}

type Constraint = { type: string; columns: string[]; def: string };

/** Every constraint of a table (NOT NULL excluded: see columns(); constraint triggers: see the ledger's test), by name. */
async function constraints(table: string): Promise<Record<string, Constraint>> {
  const rows = await t.sql<{ name: string; type: string; columns: string[] | null; def: string }[]>`
    SELECT c.conname AS name, c.contype::text AS type, pg_get_constraintdef(c.oid) AS def,
           (SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) AS columns
    FROM pg_constraint c
    WHERE c.conrelid = ${`public.${table}`}::regclass AND c.contype NOT IN ('n', 't')`;
  return Object.fromEntries(rows.map((r) => [r.name, { type: r.type, columns: r.columns ?? [], def: r.def }]));
}

type Index = { unique: boolean; keys: string[]; predicate: string | null; method: string };

/** Every index of a table, by name: its key expressions in order and its partial predicate. */
async function indexes(table: string): Promise<Record<string, Index>> {
  const rows = await t.sql<{ name: string; unique: boolean; keys: string[]; predicate: string | null; method: string }[]>`
    SELECT c.relname AS name, i.indisunique AS unique, am.amname AS method,
           ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) k ORDER BY k) AS keys,
           pg_get_expr(i.indpred, i.indrelid, true) AS predicate
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
    WHERE i.indrelid = ${`public.${table}`}::regclass`;
  return Object.fromEntries(
    rows.map((r) => [r.name, { unique: r.unique, keys: r.keys, predicate: r.predicate, method: r.method }]),
  );
}

const identityPk = { type: 'bigint', notNull: true, default: null, identity: 'always' } as const;
const col = (type: string, notNull: boolean, dflt: string | null = null): Column => ({
  type,
  notNull,
  default: dflt,
  identity: '',
});
const ACTIVE = 'archived_at IS NULL';

describe('tables', () => {
  test('the public schema holds the service tables, as ordinary logged tables', async () => {
    const rows = await t.sql<{ name: string; kind: string; persistence: string }[]>`
      SELECT c.relname AS name, c.relkind::text AS kind, c.relpersistence::text AS persistence
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relname = ANY(${['categories', 'products', 'stock_movements', 'idempotency_keys']})
      ORDER BY c.relname`;
    // 'r' is an ordinary table; 'p' (permanent) means WAL-logged, so a crash loses none of it.
    expect([...rows]).toEqual([
      { name: 'categories', kind: 'r', persistence: 'p' },
      { name: 'idempotency_keys', kind: 'r', persistence: 'p' },
      { name: 'products', kind: 'r', persistence: 'p' },
      { name: 'stock_movements', kind: 'r', persistence: 'p' },
    ]);
  });
});

describe('categories', () => {
  test('has an identity id, a required name, an optional description and a created_at defaulting to now()', async () => {
    expect(await columns('categories')).toEqual({
      id: identityPk,
      name: col('text', true),
      description: col('text', false),
      created_at: col('timestamp with time zone', true, 'now()'),
    });
  });

  test('id is the primary key and the name must be 1 to 100 characters without outer spaces', async () => {
    expect(await constraints('categories')).toEqual({
      categories_pkey: { type: 'p', columns: ['id'], def: 'PRIMARY KEY (id)' },
      categories_name_length: {
        type: 'c',
        columns: ['name'],
        def: 'CHECK (((char_length(name) >= 1) AND (char_length(name) <= 100)))',
      },
      categories_name_trimmed: {
        type: 'c',
        columns: ['name'],
        def: String.raw`CHECK ((name !~ '^[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]|[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]$'::text))`,
      },
      categories_name_visible: { type: 'c', columns: ['name'], def: NAME_CHECK },
      categories_description_clean: { type: 'c', columns: ['description'], def: DESCRIPTION_CHECK },
    });
  });

  test('names are unique whatever their case, through a unique index on lower(name)', async () => {
    expect(await indexes('categories')).toEqual({
      categories_pkey: { unique: true, keys: ['id'], predicate: null, method: 'btree' },
      categories_name_key: { unique: true, keys: ['lower(name)'], predicate: null, method: 'btree' },
    });
  });
});

describe('products', () => {
  test("has the contract's columns with their types, NOT NULLs, defaults and identity", async () => {
    expect(await columns('products')).toEqual({
      id: identityPk,
      sku: col('text', true),
      name: col('text', true),
      description: col('text', false),
      price: col('numeric(10,2)', true),
      quantity: col('integer', true, '0'),
      category_id: col('bigint', true),
      created_at: col('timestamp with time zone', true, 'now()'),
      updated_at: col('timestamp with time zone', true, 'now()'),
      archived_at: col('timestamp with time zone', false),
      version: col('integer', true, '1'),
      // Not shown by the API: never earlier than any open reservation's expiry (AVAILABLE_SQL).
      reserved_until: col('timestamp with time zone', false),
    });
  });

  test('checks SKU format, name and description lengths, and non-negative price and quantity', async () => {
    const checks = Object.fromEntries(Object.entries(await constraints('products')).filter(([, c]) => c.type === 'c'));
    expect(checks).toEqual({
      products_sku_format: {
        type: 'c',
        columns: ['sku'],
        def: "CHECK ((sku ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'::text))",
      },
      products_name_length: {
        type: 'c',
        columns: ['name'],
        def: 'CHECK (((char_length(name) >= 1) AND (char_length(name) <= 200)))',
      },
      products_name_trimmed: {
        type: 'c',
        columns: ['name'],
        def: String.raw`CHECK ((name !~ '^[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]|[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]$'::text))`,
      },
      products_name_visible: { type: 'c', columns: ['name'], def: NAME_CHECK },
      products_description_length: {
        type: 'c',
        columns: ['description'],
        def: 'CHECK ((char_length(description) <= 2000))',
      },
      products_description_clean: { type: 'c', columns: ['description'], def: DESCRIPTION_CHECK },
      products_price_nonnegative: { type: 'c', columns: ['price'], def: 'CHECK ((price >= (0)::numeric))' },
      products_quantity_nonnegative: { type: 'c', columns: ['quantity'], def: 'CHECK ((quantity >= 0))' },
    });
  });

  test('id is the primary key and category_id references categories with ON DELETE RESTRICT', async () => {
    const all = await constraints('products');
    expect(all.products_pkey).toEqual({ type: 'p', columns: ['id'], def: 'PRIMARY KEY (id)' });
    expect(all.products_category_id_fkey).toEqual({
      type: 'f',
      columns: ['category_id'],
      def: 'FOREIGN KEY (category_id) REFERENCES categories(id) ON DELETE RESTRICT',
    });
    const [fk] = await t.sql<{ on_delete: string; on_update: string; deferrable: boolean }[]>`
      SELECT confdeltype::text AS on_delete, confupdtype::text AS on_update, condeferrable AS deferrable
      FROM pg_constraint WHERE conname = 'products_category_id_fkey'`;
    // 'r' is RESTRICT (checked at once, even in a deferred transaction); 'a' would be NO ACTION.
    expect(fk).toEqual({ on_delete: 'r', on_update: 'a', deferrable: false });
  });

  test('SKU and name are unique whatever their case among active products only', async () => {
    const all = await indexes('products');
    expect(all.products_sku_key).toEqual({ unique: true, keys: ['lower(sku)'], predicate: ACTIVE, method: 'btree' });
    expect(all.products_name_key).toEqual({ unique: true, keys: ['lower(name)'], predicate: ACTIVE, method: 'btree' });
  });

  test('has exactly the listing and search indexes: per sort key, one unfiltered and one led by category_id, partial on active rows; for SKU and word search, over all rows', async () => {
    const btree = (keys: string[], predicate: string | null = ACTIVE, unique = false): Index => ({
      unique,
      keys,
      predicate,
      method: 'btree',
    });
    expect(await indexes('products')).toEqual({
      products_pkey: btree(['id'], null, true),
      products_sku_key: btree(['lower(sku)'], ACTIVE, true),
      products_name_key: btree(['lower(name)'], ACTIVE, true),
      products_category_name_idx: btree(['category_id', 'lower(name)']),
      products_price_idx: btree(['price', 'id']),
      products_category_price_idx: btree(['category_id', 'price', 'id']),
      products_created_at_idx: btree(['created_at', 'id']),
      products_category_created_at_idx: btree(['category_id', 'created_at', 'id']),
      products_archived_idx: btree(['archived_at', 'id'], 'archived_at IS NOT NULL'),
      products_sku_order_idx: btree(['lower(sku)', 'id']),
      products_category_sku_order_idx: btree(['category_id', 'lower(sku)', 'id']),
      products_sku_trigram_idx: { unique: false, keys: ['lower(sku)'], predicate: null, method: 'gin' },
      products_search_idx: { unique: false, keys: ['product_search_vector(name, description)'], predicate: null, method: 'gin' },
    });
    // Byte order, whatever the database's collation: a prefix is then a range of the index.
    for (const index of ['products_sku_order_idx', 'products_category_sku_order_idx']) {
      const [order] = await t.sql<{ def: string }[]>`SELECT pg_get_indexdef(${index}::regclass) AS def`;
      expect(order!.def).toContain('lower(sku) COLLATE "C", id)');
    }
  });

  test('each sort key has one index per listing that ends in id unless the key is unique', async () => {
    const all = Object.values(await indexes('products')).filter((i) => i.predicate === ACTIVE);
    for (const key of ['lower(name)', 'price', 'created_at']) {
      for (const lead of [[], ['category_id']]) {
        const matching = all.filter((i) => i.keys.slice(0, lead.length + 1).join() === [...lead, key].join());
        // Exactly one: a second index with the same leading keys would be dead weight on every write.
        expect(matching.length, `indexes led by ${[...lead, key].join(', ')}`).toBe(1);
        const [index] = matching;
        const keyIsUnique = all.some((i) => i.unique && i.keys.join() === key);
        const expected = keyIsUnique ? [...lead, key] : [...lead, key, 'id'];
        expect(index!.keys, `index led by ${[...lead, key].join(', ')}`).toEqual(expected);
      }
    }
  });

  test('updated_at and version are maintained by a BEFORE UPDATE row trigger that skips no-op updates', async () => {
    const triggers = await t.sql<{ name: string; def: string; enabled: string }[]>`
      SELECT tgname AS name, pg_get_triggerdef(oid) AS def, tgenabled::text AS enabled
      FROM pg_trigger WHERE tgrelid = 'public.products'::regclass AND NOT tgisinternal AND tgconstraint = 0
        AND tgname NOT LIKE 'products_search_words_%' AND tgname NOT LIKE 'events_%'`;
    expect([...triggers]).toEqual([
      {
        name: 'products_set_updated_at',
        def:
          'CREATE TRIGGER products_set_updated_at BEFORE UPDATE ON public.products FOR EACH ROW ' +
          'WHEN ((old.* IS DISTINCT FROM new.*)) EXECUTE FUNCTION set_updated_at()',
        enabled: 'O',
      },
    ]);
    const [fn] = await t.sql<{ language: string; returns: string; body: string }[]>`
      SELECT l.lanname AS language, format_type(p.prorettype, NULL) AS returns, p.prosrc AS body
      FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
      WHERE p.oid = 'public.set_updated_at()'::regprocedure`;
    expect(fn!.language).toBe('plpgsql');
    expect(fn!.returns).toBe('trigger');
    expect(fn!.body).toContain('NEW.updated_at := now();');
    expect(fn!.body).toContain('NEW.version := OLD.version + 1;');
  });
});

describe('stock_movements', () => {
  test('has the ledger columns', async () => {
    expect(await columns('stock_movements')).toEqual({
      id: identityPk,
      product_id: col('bigint', true),
      delta: col('integer', true),
      reason: col('text', true),
      note: col('text', false),
      quantity_after: col('integer', true),
      created_at: col('timestamp with time zone', true, 'now()'),
      // Movements written without a location are the default location's (its id when the column was added).
      location_id: col('bigint', true, '1'),
      transfer_id: col('bigint', false),
      reservation_id: col('bigint', false),
      reference: col('text', false),
    });
  });

  test('refuses zero deltas, unknown reasons, long notes and negative balances, and keeps its products', async () => {
    expect(await constraints('stock_movements')).toEqual({
      stock_movements_pkey: { type: 'p', columns: ['id'], def: 'PRIMARY KEY (id)' },
      stock_movements_product_id_fkey: {
        type: 'f',
        columns: ['product_id'],
        def: 'FOREIGN KEY (product_id) REFERENCES products(id) ON DELETE RESTRICT',
      },
      stock_movements_location_id_fkey: {
        type: 'f',
        columns: ['location_id'],
        def: 'FOREIGN KEY (location_id) REFERENCES locations(id) ON DELETE RESTRICT',
      },
      stock_movements_transfer_id_fkey: {
        type: 'f',
        columns: ['transfer_id'],
        def: 'FOREIGN KEY (transfer_id) REFERENCES transfers(id) ON DELETE RESTRICT',
      },
      stock_movements_reservation_id_fkey: {
        type: 'f',
        columns: ['reservation_id'],
        def: 'FOREIGN KEY (reservation_id) REFERENCES reservations(id) ON DELETE RESTRICT',
      },
      stock_movements_delta_nonzero: { type: 'c', columns: ['delta'], def: 'CHECK ((delta <> 0))' },
      stock_movements_reason_known: {
        type: 'c',
        columns: ['reason'],
        def:
          "CHECK ((reason = ANY (ARRAY['received'::text, 'sold'::text, 'returned'::text, 'damaged'::text, " +
          "'count_correction'::text, 'initial'::text, 'transfer_out'::text, 'transfer_in'::text])))",
      },
      stock_movements_transfer_reason: {
        type: 'c',
        columns: ['transfer_id', 'reason'],
        def: "CHECK (((transfer_id IS NOT NULL) = (reason = ANY (ARRAY['transfer_out'::text, 'transfer_in'::text]))))",
      },
      stock_movements_reference_length: {
        type: 'c',
        columns: ['reference'],
        def: 'CHECK (((char_length(reference) >= 1) AND (char_length(reference) <= 100)))',
      },
      stock_movements_note_length: { type: 'c', columns: ['note'], def: 'CHECK ((char_length(note) <= 500))' },
      stock_movements_quantity_after_nonnegative: {
        type: 'c',
        columns: ['quantity_after'],
        def: 'CHECK ((quantity_after >= 0))',
      },
    });
  });

  test('the ledger is append-only and explains every quantity: its triggers, the checks deferred to commit', async () => {
    const triggers = await t.sql<{ name: string; def: string; enabled: string }[]>`
      SELECT tgname AS name, pg_get_triggerdef(oid) AS def, tgenabled::text AS enabled
      FROM pg_trigger
      WHERE tgrelid IN ('public.products'::regclass, 'public.stock_movements'::regclass) AND NOT tgisinternal
        AND tgname <> 'products_set_updated_at' AND tgname NOT LIKE 'products_search_words_%'
        AND tgname NOT LIKE 'events_%'
      ORDER BY tgname`;
    expect([...triggers]).toEqual([
      {
        name: 'products_quantity_in_ledger_insert',
        def:
          'CREATE CONSTRAINT TRIGGER products_quantity_in_ledger_insert AFTER INSERT ON public.products ' +
          'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((new.quantity <> 0)) EXECUTE FUNCTION products_quantity_in_ledger()',
        enabled: 'O',
      },
      {
        name: 'products_quantity_in_ledger_update',
        def:
          'CREATE CONSTRAINT TRIGGER products_quantity_in_ledger_update AFTER UPDATE ON public.products ' +
          'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((new.quantity <> old.quantity)) EXECUTE FUNCTION products_quantity_in_ledger()',
        enabled: 'O',
      },
      {
        name: 'stock_movements_append_only',
        def:
          'CREATE TRIGGER stock_movements_append_only BEFORE DELETE OR UPDATE ON public.stock_movements ' +
          'FOR EACH ROW EXECUTE FUNCTION stock_movements_append_only()',
        enabled: 'O',
      },
      {
        name: 'stock_movements_follow_ledger',
        def:
          'CREATE CONSTRAINT TRIGGER stock_movements_follow_ledger AFTER INSERT ON public.stock_movements ' +
          'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stock_movements_follow_ledger()',
        enabled: 'O',
      },
      {
        name: 'stock_movements_no_truncate',
        def:
          'CREATE TRIGGER stock_movements_no_truncate BEFORE TRUNCATE ON public.stock_movements ' +
          'FOR EACH STATEMENT EXECUTE FUNCTION stock_movements_append_only()',
        enabled: 'O',
      },
      {
        name: 'stock_movements_set_level',
        def:
          'CREATE TRIGGER stock_movements_set_level AFTER INSERT ON public.stock_movements ' +
          'FOR EACH ROW EXECUTE FUNCTION stock_movements_set_level()',
        enabled: 'O',
      },
    ]);
  });

  test("a product's movements are read in order through an index on (product_id, id), a level's on (product_id, location_id, id)", async () => {
    expect(await indexes('stock_movements')).toEqual({
      stock_movements_pkey: { unique: true, keys: ['id'], predicate: null, method: 'btree' },
      stock_movements_product_idx: { unique: false, keys: ['product_id', 'id'], predicate: null, method: 'btree' },
      stock_movements_level_idx: { unique: false, keys: ['product_id', 'location_id', 'id'], predicate: null, method: 'btree' },
    });
  });
});

describe('idempotency_keys', () => {
  test('has the stored-response columns, expiring 24 hours after creation by default', async () => {
    expect(await columns('idempotency_keys')).toEqual({
      method: col('text', true),
      path: col('text', true),
      key: col('text', true),
      request_hash: col('text', true),
      status: col('integer', false),
      response_headers: col('jsonb', false),
      response_body: col('text', false),
      created_at: col('timestamp with time zone', true, 'now()'),
      expires_at: col('timestamp with time zone', true, "(now() + '24:00:00'::interval)"),
      client: col('text', true, "''::text"),
    });
  });

  test('is keyed by (client, method, path, key) with keys of 1 to 255 characters, and indexed by expiry', async () => {
    expect(await constraints('idempotency_keys')).toEqual({
      idempotency_keys_pkey: {
        type: 'p',
        columns: ['client', 'method', 'path', 'key'],
        def: 'PRIMARY KEY (client, method, path, key)',
      },
      idempotency_keys_key_length: {
        type: 'c',
        columns: ['key'],
        def: 'CHECK (((char_length(key) >= 1) AND (char_length(key) <= 255)))',
      },
    });
    expect(await indexes('idempotency_keys')).toEqual({
      idempotency_keys_pkey: { unique: true, keys: ['client', 'method', 'path', 'key'], predicate: null, method: 'btree' },
      idempotency_keys_expires_at_idx: { unique: false, keys: ['expires_at'], predicate: null, method: 'btree' },
    });
  });
});
