/**
 * Creating products into a category, and moving products into it, while the
 * same category is being deleted: over a real listener, many requests at once.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, listen, type TestApp } from '../support/app.ts';

let t: TestApp;
let server: ReturnType<typeof listen>;
beforeAll(async () => {
  t = await createTestApp({ poolMax: 12 });
  server = listen(t.app);
});
afterAll(async () => {
  server?.stop();
  await t?.close();
});

function send(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${server.base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

type Outcome = { kind: string; status: number; code?: string; category?: string; id?: number };

async function outcome(kind: string, res: Response): Promise<Outcome> {
  const text = await res.text();
  const body = text ? (JSON.parse(text) as { code?: string; category?: string; id?: number }) : {};
  return { kind, status: res.status, code: body.code, category: body.category, id: body.id };
}

describe('racing a category delete', () => {
  test('creates and moves into a category while it is deleted: 201/200, or 204/404/409 category_not_empty for the deletes, never a 500', async () => {
    const seen: Record<string, number> = {};
    const movers: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await send('POST', '/products', { name: `Mover ${i}`, price: 1, category: 'Steady' });
      expect(res.status).toBe(201);
      movers.push(((await res.json()) as { id: number }).id);
    }
    for (let round = 0; round < 30; round++) {
      // The category exists and is empty when the round starts.
      await t.db.sql`INSERT INTO categories (name) VALUES ('Volatile') ON CONFLICT (lower(name)) DO NOTHING`;
      const [row] = await t.db.sql<{ id: number }[]>`SELECT id FROM categories WHERE lower(name) = 'volatile'`;
      const id = row!.id;
      const requests: Promise<Outcome>[] = [];
      for (let i = 0; i < 6; i++) {
        requests.push(send('DELETE', `/categories/${id}`).then((r) => outcome('delete', r)));
        if (i < 4) {
          requests.push(
            send('POST', '/products', { name: `Racer ${round}-${i}`, price: 1, category: i % 2 ? 'volatile' : 'VOLATILE' }).then(
              (r) => outcome('create', r),
            ),
          );
        }
        if (i < movers.length) {
          requests.push(send('PATCH', `/products/${movers[i]}`, { category: 'Volatile' }).then((r) => outcome('move', r)));
        }
      }
      const results = await Promise.all(requests);
      for (const r of results) {
        const label = `${r.kind} ${r.status}${r.code ? ` ${r.code}` : ''}`;
        seen[label] = (seen[label] ?? 0) + 1;
        // A category created again takes the spelling of the request that created it.
        if (r.kind === 'create')
          expect({ status: r.status, category: r.category?.toLowerCase() }).toEqual({ status: 201, category: 'volatile' });
        if (r.kind === 'move')
          expect({ status: r.status, category: r.category?.toLowerCase() }).toEqual({ status: 200, category: 'volatile' });
        if (r.kind === 'delete') {
          expect(['204', '404 not_found', '409 category_not_empty']).toContain(`${r.status}${r.code ? ` ${r.code}` : ''}`);
        }
      }
      expect(results.filter((r) => r.kind === 'delete' && r.status === 204).length).toBeLessThanOrEqual(1);
      // One category of that name, holding every product created or moved in this round.
      const categories = await t.db.sql<{ id: number }[]>`SELECT id FROM categories WHERE lower(name) = 'volatile'`;
      expect(categories.length).toBe(1);
      const [held] = await t.db.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM products WHERE category_id = ${categories[0]!.id}`;
      expect(held!.n).toBe(4 + movers.length);
      // Empty the category for the next round.
      await t.db.sql`DELETE FROM products WHERE name LIKE 'Racer %'`;
      await t.db
        .sql`UPDATE products SET category_id = (SELECT id FROM categories WHERE name = 'Steady') WHERE id = ANY(${movers})`;
    }
    console.log('outcomes over 30 rounds:', JSON.stringify(seen));
    expect(seen['delete 204']).toBeGreaterThan(0);
  }, 60_000);
});
