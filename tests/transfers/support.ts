import { expect } from 'bun:test';
import type { TestApp } from '../support/app.ts';
import { json, nextNumber, unique } from '../support/values.ts';

/** A product with `quantity` units at the default location; returns its id. */
export async function createProduct(t: TestApp, quantity: number): Promise<number> {
  const res = await t.post('/products', { name: unique('Stocked'), price: 1, quantity, category: 'Stock' });
  expect(res.status).toBe(201);
  return (await json(res)).id;
}

/** A new location (there is no API for locations yet); returns its id. */
export async function createLocation(t: TestApp): Promise<number> {
  const [row] = await t.db.admin<{ id: number }[]>`
    INSERT INTO locations (code, name) VALUES (${`LOC-${nextNumber()}`}, 'Shop floor') RETURNING id`;
  return row!.id;
}

export async function defaultLocation(t: TestApp): Promise<number> {
  const [row] = await t.db.sql<{ id: number }[]>`SELECT default_location() AS id`;
  return row!.id;
}

/** Everything a stock change of the product could touch: its quantity, its levels (with what they hold reserved) and its ledger. */
export async function stockOf(t: TestApp, product: number) {
  const [p] = await t.db.sql<{ quantity: number }[]>`SELECT quantity FROM products WHERE id = ${product}`;
  const levels = await t.db.sql<{ location_id: number; on_hand: number; reserved: number }[]>`
    SELECT location_id, on_hand, stock_reserved(product_id, location_id) AS reserved
    FROM stock_levels WHERE product_id = ${product} ORDER BY location_id`;
  const movements = await t.db.sql<{ id: number; location_id: number; delta: number; reason: string }[]>`
    SELECT id, location_id, delta, reason FROM stock_movements WHERE product_id = ${product} ORDER BY id`;
  const [transfers] = await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM transfers WHERE product_id = ${product}`;
  return { quantity: p!.quantity, levels: [...levels], movements: [...movements], transfers: transfers!.n };
}

/** The ledger's rules, checked from outside: each level's on hand is the sum of its movements, the product's quantity the sum of its levels. */
export async function expectLedgerWhole(t: TestApp, product: number) {
  const rows = await t.db.sql<{ location_id: number; on_hand: number; ledger: number }[]>`
    SELECT l.location_id, l.on_hand,
           (SELECT coalesce(sum(m.delta), 0)::int FROM stock_movements m
            WHERE m.product_id = l.product_id AND m.location_id = l.location_id) AS ledger
    FROM stock_levels l WHERE l.product_id = ${product}`;
  for (const row of rows)
    expect({ location: row.location_id, on_hand: row.on_hand }).toEqual({ location: row.location_id, on_hand: row.ledger });
  const { quantity } = await stockOf(t, product);
  expect(quantity).toBe(rows.reduce((sum, r) => sum + r.on_hand, 0));
}
