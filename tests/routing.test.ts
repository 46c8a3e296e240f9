/**
 * Requests no operation takes: a known path with a method it does not take is
 * 405 method_not_allowed with Allow listing the methods the path has (for every
 * path of the document); an unknown path is 404 not_found.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from './support/app.ts';
import { contractDocument, type OpenApi } from './support/contract.ts';
import { expectProblem } from './support/problem.ts';

let t: TestApp;
let doc: OpenApi;
beforeAll(async () => {
  t = await createTestApp();
  doc = await contractDocument();
});
afterAll(async () => {
  await t?.close();
});

const ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
const concrete = (template: string) => template.replace(/\{[^}]+\}/g, '1');

describe('405 method_not_allowed', () => {
  test('PUT /products/1 is 405 with Allow: GET, HEAD, PATCH, DELETE', async () => {
    const res = await t.request('/products/1', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.headers.get('allow')).toBe('GET, HEAD, PATCH, DELETE');
    const body = await expectProblem(res, 405, 'method_not_allowed');
    expect(body).toEqual(
      expect.objectContaining({
        instance: '/products/1',
        detail: 'PUT is not allowed on /products/1; allowed: GET, HEAD, PATCH, DELETE',
      }),
    );
  });

  test('every path of the document answers every method it does not take with 405, Allow naming exactly its operations', async () => {
    const wrong: string[] = [];
    for (const [template, item] of Object.entries(doc.paths)) {
      const methods = Object.keys(item).map((m) => m.toUpperCase());
      if (methods.includes('GET')) methods.push('HEAD');
      const allow = ORDER.filter((m) => methods.includes(m)).join(', ');
      for (const method of ORDER.filter((m) => !methods.includes(m))) {
        for (const path of [concrete(template), `${concrete(template)}/`]) {
          const res = await t.request(path, { method });
          // A HEAD answer has no body to read the code from.
          const code =
            res.status === 405 && method !== 'HEAD' ? ((await res.json()) as { code: string }).code : 'method_not_allowed';
          if (res.status !== 405 || code !== 'method_not_allowed' || res.headers.get('allow') !== allow) {
            wrong.push(`${method} ${path}: ${res.status} ${code} Allow: ${res.headers.get('allow')} (expected ${allow})`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  test('HEAD is allowed where GET is: it is answered, not 405', async () => {
    const res = await t.request('/products', { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });
});

describe('404 not_found', () => {
  test('an unknown path is 404 for any method, without Allow', async () => {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE']) {
      for (const path of ['/nope', '/products/1/nope', '/products/1/stock-adjustments/2']) {
        const res = await t.request(path, { method });
        expect({ method, path, allow: res.headers.get('allow') }).toEqual({ method, path, allow: null });
        await expectProblem(res, 404, 'not_found');
      }
    }
  });

  test('a path a route serves with GET stays 404 when the route finds nothing (an unknown explorer asset)', async () => {
    await expectProblem(await t.request('/docs/assets/swagger-ui-dist/nope.js'), 404, 'not_found');
  });
});
