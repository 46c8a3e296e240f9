import type postgres from 'postgres';

/** Everything in the public schema, as text lines per kind of object, in a stable order. */
export type Fingerprint = Record<
  'relations' | 'columns' | 'constraints' | 'indexes' | 'triggers' | 'functions' | 'extensions',
  string[]
>;

/**
 * Reads the public schema from pg_catalog: relations (with their kind and
 * persistence), columns, constraints, indexes, triggers, functions (not the
 * extensions' own) and extensions.
 * Two databases with equal fingerprints have the same schema.
 */
export async function fingerprint(sql: postgres.Sql<any> | postgres.TransactionSql<any>): Promise<Fingerprint> {
  const lines = (rows: { line: string }[]) => rows.map((r) => r.line);
  return {
    relations: lines(
      await sql`
      SELECT format('%s%s %s', c.relkind::text, c.relpersistence::text, c.relname) AS line
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' ORDER BY c.relname`,
    ),
    columns: lines(
      await sql`
      SELECT format('%s.%s %s%s%s%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
               CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
               ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid),
               CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END) AS line
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY c.relname, a.attnum`,
    ),
    constraints: lines(
      await sql`
      SELECT format('%s.%s %s', c.relname, k.conname, pg_get_constraintdef(k.oid)) AS line
      FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' ORDER BY c.relname, k.conname`,
    ),
    indexes: lines(
      await sql`
      SELECT pg_get_indexdef(i.indexrelid) AS line
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' ORDER BY c.relname`,
    ),
    triggers: lines(
      await sql`
      SELECT pg_get_triggerdef(g.oid) AS line
      FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND NOT g.tgisinternal ORDER BY c.relname, g.tgname`,
    ),
    functions: lines(
      await sql`
      SELECT pg_get_functiondef(p.oid) AS line
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = 'public'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
      ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)`,
    ),
    extensions: lines(await sql`SELECT extname || ' ' || extversion AS line FROM pg_extension ORDER BY extname`),
  };
}
