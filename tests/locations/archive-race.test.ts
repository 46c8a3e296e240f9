/**
 * An archive racing a stock receipt at the same location: whichever PostgreSQL
 * lets through first wins, and an archived location never holds stock.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';
import { createLocation, createProduct, del } from './support.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ poolMax: 20 });
});
afterAll(async () => {
  await t?.close();
});

const ROUNDS = 40;

describe('DELETE /locations/{id} racing POST /products/{id}/stock-adjustments', () => {
  test('either the receipt lands and the archive is refused, or the archive lands and the receipt is refused', async () => {
    const outcomes = new Map<string, number>();
    for (let round = 0; round < ROUNDS; round++) {
      const location = await createLocation(t);
      const product = await createProduct(t);
      // Alternate which request is sent first, so that each wins some rounds.
      const adjust = () =>
        t.post(`/products/${product}/stock-adjustments`, { delta: 5, reason: 'received', location: location.id });
      const archive = () => del(t, `/locations/${location.id}`);
      const [adjusted, archived] =
        round % 2 === 0
          ? await Promise.all([adjust(), archive()])
          : await Promise.all([archive(), adjust()]).then(([a, b]) => [b, a] as const);
      const outcome = `${adjusted.status}/${archived.status}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      expect(['201/409', '404/204']).toContain(outcome);

      const [state] = await t.db.sql<{ archived: boolean; on_hand: number }[]>`
        SELECT l.archived_at IS NOT NULL AS archived,
               coalesce((SELECT sum(s.on_hand)::int FROM stock_levels s WHERE s.location_id = l.id), 0) AS on_hand
        FROM locations l WHERE l.id = ${location.id}`;
      expect(state).toEqual(outcome === '201/409' ? { archived: false, on_hand: 5 } : { archived: true, on_hand: 0 });
    }
    // Over all locations of the test database: none archived holds stock.
    const [held] = await t.db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM stock_levels s JOIN locations l ON l.id = s.location_id
      WHERE l.archived_at IS NOT NULL AND s.on_hand > 0`;
    expect(held!.n).toBe(0);
    console.log(`archive race outcomes (receipt/archive): ${JSON.stringify(Object.fromEntries(outcomes))}`);
  });
});
