/**
 * Webhook delivery to a local receiver: events per second, and the lag from a change's commit to
 * its delivery (p50, p99). Starts a throwaway embedded PostgreSQL and the service (its background
 * jobs publish and deliver, as in production), subscribes a local receiver to stock.adjusted, and
 * makes `events` adjustments from 8 connections, each its own transaction; the receiver verifies
 * nothing and answers 204 at once. The lag is the receiver's clock less the event's occurred_at
 * (its transaction's start; a one-statement transaction commits right after). With a rate, the
 * writes are paced to it (the lag at a steady load below the delivery's capacity); without one they
 * go as fast as they can (the capacity, and the backlog's lag).
 *   bun bench/webhook-delivery.ts [events=5000] [writes per second=0: unpaced]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { dbmate } from '../src/cli/dbmate.ts';
import { freePort, startEmbeddedPostgres } from '../src/cli/embedded-postgres.ts';
import { provisionApiRole, provisionDatabase } from '../src/cli/provision.ts';
import { median, percentile, startService, stopServices } from './harness.ts';

const EVENTS = Number(process.argv[2] ?? 5000);
const RATE = Number(process.argv[3] ?? 0);
const PRODUCTS = 1000;

const dir = mkdtempSync(join(tmpdir(), 'webhook-delivery-'));
const pg = await startEmbeddedPostgres({ dir, port: await freePort(), persistent: false });
try {
  const ownerUrl = await provisionDatabase(pg.adminUrl);
  await dbmate(ownerUrl, ['up'], true);
  const apiUrl = await provisionApiRole(pg.adminUrl);
  const owner = postgres(ownerUrl, { max: 8, onnotice: () => {} });
  await owner`INSERT INTO categories (name) VALUES ('Delivery')`;
  await owner`INSERT INTO products (sku, name, price, quantity, category_id)
              SELECT 'DLV-' || i, 'Delivery ' || i, 1, 0, (SELECT id FROM categories WHERE name = 'Delivery')
              FROM generate_series(1, ${PRODUCTS}) i`;
  const ids = (await owner<{ id: number }[]>`SELECT id::int FROM products ORDER BY id`).map((r) => r.id);

  const lags: number[] = [];
  const seen = new Set<string>();
  let first = 0;
  let last = 0;
  const receiver = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch: async (req) => {
      const now = Date.now();
      const body = (await req.json()) as { data: { occurred_at: string } };
      const id = req.headers.get('webhook-id') ?? '';
      if (!seen.has(id)) {
        seen.add(id);
        lags.push(now - Date.parse(body.data.occurred_at));
        first ||= now;
        last = now;
      }
      return new Response(null, { status: 204 });
    },
  });
  const service = await startService(apiUrl, { label: 'webhook-delivery', env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
  const subscribed = await fetch(`${service.base}/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url: `http://127.0.0.1:${receiver.port}/hook`, event_types: ['stock.adjusted'] }),
  });
  if (subscribed.status !== 201) throw new Error(`subscribing answered ${subscribed.status}: ${await subscribed.text()}`);

  const started = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < EVENTS) {
        const n = next++;
        const id = ids[n % ids.length]!;
        if (RATE > 0) await Bun.sleep(Math.max(0, started + (n * 1000) / RATE - Date.now()));
        await owner`SELECT stock_adjust(${id}::bigint, default_location(), 1, 'received')`;
      }
    }),
  );
  const written = Date.now();
  for (let waited = 0; seen.size < EVENTS && waited < 600_000; waited += 50) await Bun.sleep(50);
  await stopServices();
  receiver.stop(true);
  await owner.end();

  const seconds = (last - first) / 1000;
  console.log(
    `\n${EVENTS} stock.adjusted events written (${RATE > 0 ? `paced at ${RATE}/s` : 'unpaced'}) in ${((written - started) / 1000).toFixed(1)} s; ${seen.size} delivered`,
  );
  console.log('\n| delivered events/s | lag p50 ms | lag p99 ms | lag max ms |\n|---:|---:|---:|---:|');
  console.log(
    `| ${(seen.size / seconds).toFixed(0)} | ${median(lags).toFixed(0)} | ${percentile(lags, 99).toFixed(0)} | ${Math.max(...lags).toFixed(0)} |`,
  );
} finally {
  await stopServices();
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
