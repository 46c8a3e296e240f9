/** What the location tests share: the API's own types, and making locations, products and stock through the API. */
import { expect } from 'bun:test';
import type { components } from '../../clients/ts/schema';
import type { TestApp } from '../support/app.ts';
import { json, nextNumber, unique } from '../support/values.ts';

type Schemas = components['schemas'];
export type Location = Schemas['Location'];
export type StockLevel = Schemas['StockLevel'];
export type LocationStockLevel = Schemas['LocationStockLevel'];

/** A code no other test has used in this run. */
export const uniqueCode = (prefix = 'LOC') => `${prefix}-${nextNumber()}`;

export async function createLocation(t: TestApp, code = uniqueCode()): Promise<Location> {
  const res = await t.post('/locations', { code, name: `Location ${code}` });
  expect(res.status).toBe(201);
  return (await json(res)) as Location;
}

export async function createProduct(t: TestApp, quantity = 0): Promise<number> {
  const res = await t.post('/products', { name: unique('Located product'), price: 3, quantity });
  expect(res.status).toBe(201);
  return (await json(res)).id;
}

/** Receives `delta` units of a product at a location. */
export async function receive(t: TestApp, product: number, location: number, delta: number): Promise<void> {
  const res = await t.post(`/products/${product}/stock-adjustments`, { delta, reason: 'received', location });
  expect(res.status).toBe(201);
}

export const del = (t: TestApp, path: string) => t.request(path, { method: 'DELETE' });

export const patch = (t: TestApp, path: string, body: unknown, contentType = 'application/json') =>
  t.request(path, { method: 'PATCH', headers: { 'content-type': contentType }, body: JSON.stringify(body) });

/** Follows rel="next" from `path` to the last page; every page's rows, in order. */
export async function allPages<T>(t: TestApp, path: string): Promise<{ rows: T[]; pages: number }> {
  const rows: T[] = [];
  let next: string | undefined = path;
  let pages = 0;
  while (next) {
    const res = await t.request(next);
    expect(res.status).toBe(200);
    rows.push(...((await res.json()) as T[]));
    pages++;
    next = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1];
    expect(pages).toBeLessThan(1000);
  }
  return { rows, pages };
}
