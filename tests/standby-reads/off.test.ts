/**
 * Without DATABASE_READ_URL, reads on standbys cost nothing: no read pool, no
 * poll, no token on writes (no extra query), the Consistency-Token header of a
 * read not even looked at.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t?.close());

describe('without DATABASE_READ_URL', () => {
  test('no read routing is built', () => {
    expect(t.app.readRouting).toBeUndefined();
  });

  test('a write answers without a Consistency-Token', async () => {
    const res = await t.post('/products', { name: 'No token here', price: 1 });
    expect(res.status).toBe(201);
    expect(res.headers.get('consistency-token')).toBeNull();
  });

  test("a read's Consistency-Token is ignored, even one that is not a WAL position", async () => {
    const res = await t.request('/products?limit=1', { headers: { 'consistency-token': 'yesterday' } });
    expect(res.status).toBe(200);
  });
});
