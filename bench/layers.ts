/**
 * What each of the service's middleware layers costs a request, in JavaScript CPU, with the
 * HTTP server and the load generator out of the picture: the app is called in-process
 * (`app.fetch`) by 32 concurrent callers against a real database, and this process's own CPU
 * time (user + system) is divided by the requests. PostgreSQL runs as another process, so its
 * CPU is not counted.
 *
 *   bare       the bare stack (bench/reference-app.ts): the same SQL, no validation, no layer
 *   service    the service as the server builds it (createApp), logging at info to a sink that
 *              formats every line and drops it (no write)
 *   -<layer>   the service without that one layer (AppDeps.without)
 *   -layers    the service without any layer: what is left is its routes (validation,
 *              ETag, the product's representation) over the bare stack's handlers
 *
 * Variants run interleaved, `rounds` times each per workload; medians. A saving is the service's
 * median minus the variant's, so layers that cost less than the noise show as about 0.
 *
 *   bun bench/layers.ts [requests per measurement=20000] [rounds=5] [workloads=get,list,create]
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { createApp, LAYERS, type Layer } from '../src/app.ts';
import { dbmate } from '../src/cli/dbmate.ts';
import { freePort, startEmbeddedPostgres } from '../src/cli/embedded-postgres.ts';
import { provisionApiRole, provisionDatabase } from '../src/cli/provision.ts';
import { createPool } from '../src/db.ts';
import { createLogger } from '../src/logger.ts';
import { loadBenchCatalog } from './catalog.ts';
import { logger, median, POOL, publishLoadedEvents } from './harness.ts';
import { createReferenceApp, referencePool } from './reference-app.ts';

const [REQUESTS = 20_000, ROUNDS = 5] = process.argv.slice(2, 4).map(Number);
const WORKLOADS = (process.argv[4] ?? 'get,list,create').split(',');
const PRODUCTS = 20_000;
const CATEGORIES = 50;
const CALLERS = 32;
const log = logger('layers');

type Fetch = (request: Request) => Response | Promise<Response>;

/** The requests of each workload, as bench/wrk/*.lua sends them. */
const WORKLOAD: Record<string, { status: number; request: (i: number) => Request }> = {
  get: { status: 200, request: (i) => new Request(`http://localhost/products/${1 + ((i * 7919) % PRODUCTS)}`) },
  list: {
    status: 200,
    request: (i) =>
      new Request(`http://localhost/products?category=Category%20${String(1 + (i % CATEGORIES)).padStart(2, '0')}&limit=50`),
  },
  create: {
    status: 201,
    request: (i) =>
      new Request('http://localhost/products', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          sku: `LAYERS-${run}-${i}`,
          name: `Layers product ${run}-${i}`,
          price: '19.99',
          quantity: 5,
          category: `Category ${String(1 + (i % CATEGORIES)).padStart(2, '0')}`,
        }),
      }),
  },
};
let run = 0;

/** CPU µs of this process per request, `REQUESTS` requests from `CALLERS` concurrent callers. */
async function measure(fetch: Fetch, workload: string): Promise<number> {
  const { status, request } = WORKLOAD[workload]!;
  const requests = Array.from({ length: REQUESTS }, (_, i) => request(i));
  run++;
  let next = 0;
  const started = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (next < REQUESTS) {
        const response = await fetch(requests[next++]!);
        if (response.status !== status) throw new Error(`${workload}: ${response.status} ${await response.text()}`);
        await response.arrayBuffer();
      }
    }),
  );
  const used = process.cpuUsage(started);
  return (used.user + used.system) / REQUESTS;
}

const dir = mkdtempSync(join(tmpdir(), 'layers-'));
chmodSync(dir, 0o755);
const pg = await startEmbeddedPostgres({ dir, port: await freePort(), persistent: false });
try {
  const ownerUrl = await provisionDatabase(pg.adminUrl);
  const apiUrl = await provisionApiRole(pg.adminUrl);
  await dbmate(ownerUrl, ['up'], true);
  const owner = postgres(ownerUrl, { max: 1, onnotice: () => {} });
  await loadBenchCatalog(owner, PRODUCTS, CATEGORIES);
  await publishLoadedEvents(owner);
  await owner`VACUUM ANALYZE`;
  await owner.end();

  const bareSql = referencePool(apiUrl, POOL);
  const serviceSql = createPool({ databaseUrl: apiUrl, poolMax: POOL });
  // The server's logger formats each line; the sink drops it, so no write is counted.
  const quiet = createLogger('info', () => {}, 'json');
  const service = (without: Layer[] = []): Fetch => {
    const app = createApp({ sql: serviceSql, logger: quiet, config: { eventsListen: false }, without });
    return (request) => app.fetch(request);
  };
  const bare = createReferenceApp(bareSql);
  const variants: Record<string, Fetch> = {
    bare: (request) => bare.fetch(request),
    service: service(),
    '-layers': service([...LAYERS]),
  };
  // The layers the default settings run (no CORS origins, rate limit, API keys or standbys).
  for (const layer of [
    'request-log',
    'metrics',
    'secure-headers',
    'request-limits',
    'body-limit',
    'pool-gate',
    'idempotency',
  ] as const) {
    variants[`-${layer}`] = service([layer]);
  }

  const lines: string[] = [];
  for (const workload of WORKLOADS) {
    for (const fetch of Object.values(variants)) await measure(fetch, workload);
    const cpu: Record<string, number[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      const names = Object.keys(variants);
      if (round % 2) names.reverse();
      for (const name of names) (cpu[name] ??= []).push(await measure(variants[name]!, workload));
    }
    const of = (name: string) => median(cpu[name]!);
    log(
      `${workload}: ${Object.keys(cpu)
        .map((name) => `${name} ${of(name).toFixed(1)}`)
        .join(', ')}`,
    );
    lines.push(
      `| ${workload} | ${of('bare').toFixed(1)} | ${of('service').toFixed(1)} | ${(of('service') / of('bare')).toFixed(2)} | ` +
        `${(of('service') - of('-layers')).toFixed(1)} | ${(of('-layers') - of('bare')).toFixed(1)} | ` +
        Object.keys(cpu)
          .filter((name) => name.startsWith('-') && name !== '-layers')
          .map((name) => `${name.slice(1)} ${(of('service') - of(name)).toFixed(1)}`)
          .join(', ') +
        ' |',
    );
  }
  console.log(
    [
      '',
      `JavaScript CPU µs per request in-process (${REQUESTS} requests × ${ROUNDS} rounds, ${CALLERS} callers, pool ${POOL}, ${PRODUCTS} products; medians)`,
      '',
      '| workload | bare stack | service | service / bare | all layers | routes over bare | each layer (service minus service without it) |',
      '|---|---:|---:|---:|---:|---:|---|',
      ...lines,
    ].join('\n'),
  );
  await bareSql.end();
  await serviceSql.end();
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
