/**
 * The contract check the test clients run (tests/support/contract.ts) refuses
 * every kind of undocumented answer: an undocumented status, a missing required
 * header, a contract header the document does not declare, a body off its
 * schema, a problem code not shown for its status, 404 where the path exists
 * (405 is due) and 405 where it does not.
 */
import { beforeAll, describe, expect, test } from 'bun:test';
import { contractDocument, expectDocumented, undocumented, type OpenApi } from '../support/contract.ts';
import { SAMPLE_PRODUCT } from '../support/values.ts';

let doc: OpenApi;
beforeAll(async () => {
  doc = await contractDocument();
});

const ID = { 'x-request-id': 'req-1' };
const problem = (status: number, code: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ type: `urn:inventory:problem:${code}`, title: 'T', status, code, detail: 'd' }), {
    status,
    headers: { 'content-type': 'application/problem+json', ...ID, ...headers },
  });
const product = SAMPLE_PRODUCT;
const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...ID, ...headers } });

describe('the contract check', () => {
  test('accepts documented answers: a product with its ETag, a 409 duplicate_sku, a 405 with Allow, a 404 for an unknown path', async () => {
    expect(await undocumented(doc, 'GET', '/products/1', json(200, product, { etag: '"3"' }))).toEqual([]);
    expect(await undocumented(doc, 'POST', '/products', problem(409, 'duplicate_sku'))).toEqual([]);
    expect(await undocumented(doc, 'PUT', '/products/1', problem(405, 'method_not_allowed', { allow: 'GET' }))).toEqual([]);
    expect(await undocumented(doc, 'GET', '/nowhere', problem(404, 'not_found'))).toEqual([]);
    expect(
      await undocumented(doc, 'HEAD', '/products/1', new Response(null, { status: 200, headers: { ...ID, etag: '"3"' } })),
    ).toEqual([]);
  });

  test('refuses an undocumented status', async () => {
    expect(await undocumented(doc, 'GET', '/products', problem(409, 'duplicate_sku'))).toEqual(['status 409 is not documented']);
  });

  test('refuses a missing required header: X-Request-Id, ETag, Allow, Retry-After', async () => {
    const bare = new Response(JSON.stringify(product), {
      status: 200,
      headers: { 'content-type': 'application/json', etag: '"3"' },
    });
    expect(await undocumented(doc, 'GET', '/products/1', bare)).toEqual(['required header X-Request-Id is missing']);
    expect(await undocumented(doc, 'GET', '/products/1', json(200, product))).toEqual(['required header ETag is missing']);
    expect(await undocumented(doc, 'PUT', '/products/1', problem(405, 'method_not_allowed'))).toEqual([
      'required header Allow is missing',
    ]);
    expect(await undocumented(doc, 'GET', '/products', problem(503, 'database_unavailable'))).toEqual([
      'required header Retry-After is missing',
    ]);
  });

  test('refuses a contract header the document does not declare for that response', async () => {
    expect(await undocumented(doc, 'GET', '/categories', json(200, [], { etag: '"1"' }))).toEqual([
      'header etag is sent but not declared',
    ]);
    expect(await undocumented(doc, 'GET', '/categories', json(200, [], { 'idempotent-replayed': 'true' }))).toEqual([
      'header idempotent-replayed is sent but not declared',
    ]);
    expect(await undocumented(doc, 'GET', '/healthz', json(200, { status: 'ok' }, { 'ratelimit-limit': '5' }))).toEqual([
      'header ratelimit-limit is sent but not declared',
    ]);
  });

  test('refuses a body off its schema, and a problem whose status or code is not the documented one', async () => {
    expect(await undocumented(doc, 'GET', '/products/1', json(200, { ...product, price: '1.50' }, { etag: '"3"' }))).toEqual([
      'body.price: expected number, got "1.50"',
    ]);
    expect(await undocumented(doc, 'GET', '/products/1', problem(404, 'duplicate_sku'))).toEqual([
      'code duplicate_sku is not documented for 404 (not_found)',
    ]);
    const lying = new Response(
      JSON.stringify({ type: 'urn:inventory:problem:not_found', title: 'T', status: 422, code: 'not_found', detail: 'd' }),
      {
        status: 404,
        headers: { 'content-type': 'application/problem+json', ...ID },
      },
    );
    expect(await undocumented(doc, 'GET', '/products/1', lying)).toEqual(["body.status 422 is not the response's 404"]);
  });

  test('refuses 404 on a path that exists (405 is due) and 405 on one that does not', async () => {
    expect(await undocumented(doc, 'PUT', '/products/1', problem(404, 'not_found'))).toEqual(['status 404 is not documented']);
    expect(await undocumented(doc, 'PUT', '/nowhere', problem(405, 'method_not_allowed', { allow: 'GET' }))).toEqual([
      'status 405 is not documented',
    ]);
  });

  test('a failed check throws, naming the request and what is wrong', async () => {
    await expect(expectDocumented('GET', 'http://127.0.0.1/products?limit=1', problem(409, 'duplicate_sku'))).rejects.toThrow(
      'GET /products → 409 is not as /openapi.json documents it:\n  status 409 is not documented',
    );
  });
});
