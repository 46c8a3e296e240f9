/**
 * Listing throughput through the local cluster's HAProxy with 1, 2 and 3 API hosts
 * (deploy/local-cluster.sh, each size brought up and torn down in turn), and the
 * CPU each request cost: the API hosts, HAProxy, the primary's PostgreSQL and wrk.
 *   nice -n 0 bun bench/cluster.ts          (root; pg_autoctl, HAProxy and wrk installed)
 * BENCH_SECONDS (10) per measurement after a 3 s warm-up, BENCH_CONNECTIONS (32).
 * Bounded: three clusters, one measurement each. Writes bench/out/cluster.md.
 * Not part of `./run.sh test` or `./run.sh bench`.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import {
  CLUSTER_AVAILABLE,
  type LocalCluster,
  primaryNode,
  SKIPPED,
  serverStates,
  startLocalCluster,
} from '../tests/cluster/local-cluster.ts';
import { waitFor } from '../tests/failover/cluster.ts';
import { CONNECTIONS, ensureWrk, logger, OUT, SECONDS, sh } from './harness.ts';
import { postgresChildren, postgresCpuSeconds, postmasterPid, processCpuSeconds } from './profile.ts';

const log = logger('bench/cluster');
const PATH = '/products?limit=50';

type Row = { hosts: number; rps: number; p50: string; p99: string; errors: number; cpu: Record<string, number> };

/** CPU seconds so far of a process and its children alive now (HAProxy's worker). */
const withChildren = (pid: number) =>
  postgresChildren(pid).reduce((sum, child) => sum + processCpuSeconds(child), processCpuSeconds(pid));

async function measure(cluster: LocalCluster, hosts: number, wrk: string): Promise<Row> {
  const url = `${cluster.base}${PATH}`;
  await sh([wrk, '-t1', `-c${CONNECTIONS}`, '-d3s', url]); // warm-up
  const primary = await primaryNode(cluster);
  if (!primary) throw new Error('no primary');
  const pg = postmasterPid(join(cluster.state.pgroot, primary));
  const apis = Array.from({ length: hosts }, (_, i) => cluster.pid(`api${i + 1}`));
  const haproxy = cluster.pid('haproxy');
  const before = {
    api: apis.reduce((s, p) => s + processCpuSeconds(p), 0),
    haproxy: withChildren(haproxy),
    pg: postgresCpuSeconds(pg),
  };
  const r = await sh([wrk, '-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', '--timeout', '30s', url]);
  const after = {
    api: apis.reduce((s, p) => s + processCpuSeconds(p), 0),
    haproxy: withChildren(haproxy),
    pg: postgresCpuSeconds(pg),
  };
  const requests = Number(/(\d+) requests in/.exec(r.out)?.[1] ?? 0);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.out)?.[1]);
  if (!rps) throw new Error(`wrk failed: ${r.out}${r.err}`);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(r.out)?.[1] ?? 0);
  const per = (seconds: number) => Math.round((seconds * 1e6) / requests);
  return {
    hosts,
    rps,
    p50: /\n\s+50%\s+(\S+)/.exec(r.out)?.[1] ?? '?',
    p99: /\n\s+99%\s+(\S+)/.exec(r.out)?.[1] ?? '?',
    errors: non2xx,
    cpu: {
      api: per(after.api - before.api),
      haproxy: per(after.haproxy - before.haproxy),
      postgres: per(after.pg - before.pg),
      wrk: per(r.cpu),
    },
  };
}

if (!CLUSTER_AVAILABLE) {
  log(SKIPPED);
  process.exit(1);
}
const wrk = await ensureWrk();
const rows: Row[] = [];
for (const hosts of [1, 2, 3]) {
  log(`bringing up the local cluster with ${hosts} API host(s)`);
  const cluster = await startLocalCluster({ hosts, name: 'icb', subnet: '10.213.92' });
  try {
    await waitFor(`HAProxy to see ${hosts} host(s) UP`, async () => {
      const states = Object.values(await serverStates(cluster));
      return states.length === hosts && states.every((s) => s === 'UP');
    });
    const row = await measure(cluster, hosts, wrk);
    log(`${hosts} host(s): ${row.rps} req/s, p50 ${row.p50}, p99 ${row.p99}, CPU µs/request ${JSON.stringify(row.cpu)}`);
    rows.push(row);
  } finally {
    await cluster.down();
  }
}

const table = [
  `# GET ${PATH} through HAProxy, by API hosts (${cpus().length} cores, ${CONNECTIONS} connections, ${SECONDS} s)`,
  '',
  '| API hosts | req/s | p50 | p99 | non-2xx | CPU µs/request: API | HAProxy | PostgreSQL | wrk |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.hosts} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.cpu.api} | ${r.cpu.haproxy} | ${r.cpu.postgres} | ${r.cpu.wrk} |`,
  ),
  '',
].join('\n');
writeFileSync(join(OUT, 'cluster.md'), table);
process.stdout.write(`${table}\n`);
