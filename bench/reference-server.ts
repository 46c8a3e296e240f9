/**
 * The benchmark's reference point between the service and its ceiling: a bare
 * Bun + Hono + postgres.js server answering the same three requests with the
 * same SQL, and nothing else (no validation, no middleware, no log line, no
 * metrics, driver defaults apart from the pool size and the session's plan cache
 * mode). What the service costs above it is what its own features cost; what it
 * costs below pgbench is what the stack costs.
 *
 * DATABASE_URL, PORT, DB_POOL_MAX. Run by bench/run.ts, never by the service.
 */
import { Hono } from 'hono';
import postgres from 'postgres';

const sql = postgres(process.env.DATABASE_URL!, {
  max: Number(process.env.DB_POOL_MAX ?? 10),
  connection: { plan_cache_mode: 'force_generic_plan' },
  onnotice: () => {},
});

const app = new Hono();

app.get('/products', async (c) => {
  const limit = Number(c.req.query('limit') ?? 50);
  const rows = await sql`
    SELECT p.id, p.sku, p.name, p.description, p.price, p.quantity, c.name AS category,
           p.created_at, p.updated_at, p.version
    FROM (
      SELECT * FROM products p
      WHERE p.archived_at IS NULL
        AND p.category_id = (SELECT id FROM categories WHERE lower(name) = lower(${c.req.query('category') ?? ''}))
      ORDER BY lower(p.name)
      LIMIT ${limit + 1}
    ) p
    JOIN categories c ON c.id = p.category_id
    ORDER BY lower(p.name)`;
  return c.json(rows.slice(0, limit));
});

app.get('/products/:id', async (c) => {
  const [row] = await sql`
    SELECT p.id, p.sku, p.name, p.description, p.price, p.quantity, c.name AS category,
           p.created_at, p.updated_at, p.version
    FROM products p JOIN categories c ON c.id = p.category_id
    WHERE p.id = ${Number(c.req.param('id'))} AND p.archived_at IS NULL`;
  return row ? c.json(row) : c.json({ error: 'not found' }, 404);
});

app.post('/products', async (c) => {
  const b = await c.req.json();
  const [row] = await sql`
    WITH c AS (
      SELECT id, name FROM categories WHERE lower(name) = lower(${b.category})
    ), p AS (
      INSERT INTO products (sku, name, description, price, quantity, category_id)
      SELECT ${b.sku}, ${b.name}, ${b.description ?? null}, ${b.price}, ${b.quantity}, c.id FROM c
      RETURNING *
    ), initial AS (
      INSERT INTO stock_movements (product_id, delta, reason, quantity_after)
      SELECT p.id, p.quantity, 'initial', p.quantity FROM p WHERE p.quantity > 0
    )
    SELECT p.*, (SELECT name FROM c) AS category FROM p`;
  return c.json(row, 201);
});

app.get('/readyz', (c) => c.json({ status: 'ok' }));

const server = Bun.serve({ port: Number(process.env.PORT ?? 8000), hostname: '127.0.0.1', fetch: app.fetch });
process.on('SIGTERM', async () => {
  server.stop();
  await sql.end({ timeout: 1 });
  process.exit(0);
});
