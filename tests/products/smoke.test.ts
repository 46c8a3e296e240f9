import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => { t = await createTestApp(); });
afterAll(async () => { await t.close(); });

describe('smoke', () => {
  test('create and list', async () => {
    const res = await t.post('/products', { name: 'Thing', price: 19.99, category: 'Tools' });
    const body = await res.json();
    console.log(res.status, body, res.headers.get('location'));
    const list = await t.request('/products/?category=tools');
    console.log(list.status, await list.json());
    const bad = await t.post('/products', { name: '', price: 1.234, extra: 1 });
    console.log(bad.status, bad.headers.get('content-type'), await bad.json());
    const mal = await t.request('/products', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{bad' });
    console.log(mal.status, await mal.text());
    const form = await t.request('/products', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    console.log(form.status, await form.text());
    const dup = await t.post('/products', { name: 'thing', price: '5', category: 'Tools' });
    console.log(dup.status, await dup.text());
    const nf = await t.request('/nope');
    console.log(nf.status, await nf.text());
    expect(res.status).toBe(201);
  });
});
