// bench/layers.ts measures the service without one middleware layer at a time (AppDeps.without):
// each name must leave out that layer and no other, or its figures describe something else.
import { afterAll, describe, expect, test } from 'bun:test';
import { createApp, type Layer } from '../../src/app.ts';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import { createPool } from '../../src/db.ts';
import { MAX_BODY_BYTES, MAX_HEADER_BYTES } from '../../src/http/middleware.ts';
import { createLogger } from '../../src/logger.ts';

// /healthz answers without the database; a pool that reaches nothing is enough.
const sql = createPool({ databaseUrl: `postgres://nobody:nothing@127.0.0.1:${await freePort()}/none`, poolMax: 1 });
afterAll(() => sql.end({ timeout: 1 }));

const appWithout = (without: Layer[]) => createApp({ sql, logger: createLogger('silent'), without });

/** What each layer visibly does to a request for /healthz. */
async function traits(without: Layer[]) {
  const app = appWithout(without);
  const plain = await app.fetch(new Request('http://localhost/healthz'));
  const bigHead = await app.fetch(
    new Request('http://localhost/healthz', { headers: { 'x-filler': 'x'.repeat(MAX_HEADER_BYTES) } }),
  );
  const bigBody = await app.fetch(
    new Request('http://localhost/healthz', { method: 'POST', body: 'x'.repeat(MAX_BODY_BYTES + 1) }),
  );
  const metrics = await (await app.fetch(new Request('http://localhost/metrics'))).text();
  return {
    'request-log': plain.headers.has('x-request-id'),
    'secure-headers': plain.headers.get('x-content-type-options') === 'nosniff',
    'request-limits': bigHead.status === 431,
    'body-limit': bigBody.status === 413,
    metrics: metrics.includes('route="/healthz"'),
  };
}

describe('the layers bench/layers.ts leaves out', () => {
  test('the whole service has every one', async () => {
    expect(await traits([])).toEqual({
      'request-log': true,
      'secure-headers': true,
      'request-limits': true,
      'body-limit': true,
      metrics: true,
    });
  });

  test.each(['request-log', 'secure-headers', 'request-limits', 'body-limit', 'metrics'] as const)(
    'without %s, only that one is missing',
    async (layer) => {
      const expected = { 'request-log': true, 'secure-headers': true, 'request-limits': true, 'body-limit': true, metrics: true };
      expected[layer] = false;
      expect(await traits([layer])).toEqual(expected);
    },
  );
});
