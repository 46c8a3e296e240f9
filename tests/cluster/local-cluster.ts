/**
 * The local cluster of deploy/local-cluster.sh, driven by the tests through the
 * script itself (up, failover, down), with its own state directory, namespace
 * prefix, /24 and ports, so that it never meets a cluster someone started by hand.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { primaryUrl } from '../../src/cli/database-url.ts';
import { freePort } from '../../src/cli/embedded-postgres.ts';

const ROOT = join(import.meta.dir, '../..');
export const SCRIPT = join(ROOT, 'deploy/local-cluster.sh');
/** Where the last run's logs are kept. */
export const LOGS = join(ROOT, 'tests/output/local-cluster');

const needed = [
  '/usr/bin/pg_autoctl',
  '/usr/sbin/haproxy',
  '/usr/lib/postgresql/15/bin/pg_ctl',
  '/usr/sbin/ip',
  '/usr/bin/setpriv',
];
const missing = needed.filter((p) => !existsSync(p));
const notRoot = process.getuid?.() !== 0;
/** Whether the suite can run here; when not, SKIPPED says why. */
export const CLUSTER_AVAILABLE = missing.length === 0 && !notRoot;
export const SKIPPED = `skipped: ${
  missing.length
    ? `missing ${missing.join(', ')} (scripts/ensure-cluster-tools.sh installs them)`
    : 'network namespaces need root'
}`;

export type ClusterState = {
  pgroot: string;
  subnet: string;
  hosts: number;
  httpPort: number;
  statsPort: number;
  nodePorts: Record<'node1' | 'node2', number>;
  adminUrl: string;
  apiUrl: string;
};

export type LocalCluster = Awaited<ReturnType<typeof startLocalCluster>>;

/** Runs the script to its end (at most `ms`); its exit code and output. */
async function script(env: Record<string, string>, args: string[], ms: number) {
  const proc = Bun.spawn(['bash', SCRIPT, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const limit = setTimeout(() => proc.kill('SIGKILL'), ms);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(limit);
  return { code, output: out + err };
}

/** `deploy/local-cluster.sh up` with settings of its own; `down()` removes it, whatever state it is in. */
export async function startLocalCluster({ hosts = 3, name = 'ict', subnet = '10.213.91' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'inventory-local-cluster-'));
  const env = {
    CLUSTER_DIR: join(dir, 'state'),
    CLUSTER_NAME: name,
    CLUSTER_SUBNET: subnet,
    CLUSTER_API_HOSTS: String(hosts),
    CLUSTER_HTTP_PORT: String(await freePort()),
    LOG_LEVEL: 'error',
  };
  const run = (args: string[], ms = 60_000) => script(env, args, ms);
  const down = async () => {
    const result = await run(['down'], 120_000);
    // The logs (the script keeps them on down) go to tests/output/ for a look after the run.
    if (existsSync(env.CLUSTER_DIR)) {
      rmSync(LOGS, { recursive: true, force: true });
      cpSync(env.CLUSTER_DIR, LOGS, { recursive: true });
    }
    rmSync(dir, { recursive: true, force: true });
    return result;
  };
  const up = await run(['up'], 240_000);
  if (up.code !== 0) {
    const logs = readLogs(env.CLUSTER_DIR);
    await down();
    throw new Error(`local-cluster.sh up failed (${up.code}):\n${up.output}\n${logs}`);
  }
  const state = readState(env.CLUSTER_DIR);
  return {
    env,
    up,
    state,
    stateDir: env.CLUSTER_DIR,
    run,
    down,
    /** HAProxy's address. */
    base: `http://127.0.0.1:${state.httpPort}`,
    /** Host i's own address (1-based), in its namespace. */
    hostBase: (i: number) => `http://${state.subnet}.${10 + i}:8000`,
    /** The pid of a service the script started: monitor, node1, node2, haproxy, api1... */
    pid: (name: string) => Number(readFileSync(join(env.CLUSTER_DIR, `${name}.pid`), 'utf8').trim()),
    logs: () => readLogs(env.CLUSTER_DIR),
  };
}

function readState(dir: string): ClusterState {
  const values = new Map<string, string>();
  for (const line of readFileSync(join(dir, 'env'), 'utf8').split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) values.set(line.slice(0, at), line.slice(at + 1));
  }
  const get = (key: string) => {
    const value = values.get(key);
    if (value === undefined) throw new Error(`the cluster's state has no ${key}`);
    return value;
  };
  return {
    pgroot: get('PGROOT'),
    subnet: get('SUBNET'),
    hosts: Number(get('API_HOSTS')),
    httpPort: Number(get('HTTP_PORT')),
    statsPort: Number(get('STATS_PORT')),
    nodePorts: { node1: Number(get('NODE1_PORT')), node2: Number(get('NODE2_PORT')) },
    adminUrl: get('ADMIN_URL'),
    apiUrl: get('API_URL'),
  };
}

function readLogs(dir: string): string {
  const tail = (name: string) => {
    try {
      return `--- ${name}\n${readFileSync(join(dir, name), 'utf8').split('\n').slice(-15).join('\n')}`;
    } catch {
      return '';
    }
  };
  return ['monitor.log', 'node1.log', 'node2.log', 'provision.log', 'api1.log', 'haproxy.log'].map(tail).join('\n');
}

/** A superuser session on the formation's primary, inventory_db (waits up to `waitMs` for one). */
export async function onPrimary<T>(cluster: LocalCluster, fn: (sql: postgres.Sql) => Promise<T>, waitMs = 30_000): Promise<T> {
  const url = await primaryUrl(cluster.state.adminUrl.replace(/\/postgres$/, '/inventory_db'), { waitMs, connectTimeoutS: 2 });
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Which data node is the primary now (asked of each node directly). */
export async function primaryNode(cluster: LocalCluster): Promise<'node1' | 'node2' | undefined> {
  for (const node of ['node1', 'node2'] as const) {
    const sql = postgres(`postgres://postgres@127.0.0.1:${cluster.state.nodePorts[node]}/postgres`, {
      max: 1,
      onnotice: () => {},
      connect_timeout: 2,
    });
    try {
      const [row] = await sql<{ primary: boolean }[]>`SELECT NOT pg_is_in_recovery() AS primary`;
      if (row!.primary) return node;
    } catch {
      // down
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  }
  return undefined;
}

/** HAProxy's view of each API host (UP, DOWN, ...), from its stats page. */
export async function serverStates(cluster: LocalCluster): Promise<Record<string, string>> {
  const csv = await (await fetch(`http://127.0.0.1:${cluster.state.statsPort}/stats;csv`)).text();
  const [header, ...rows] = csv.trim().split('\n');
  const columns = header!.replace(/^# /, '').split(',');
  const name = columns.indexOf('svname');
  const status = columns.indexOf('status');
  const states: Record<string, string> = {};
  for (const row of rows) {
    const cells = row.split(',');
    if (cells[0] === 'api' && /^api\d$/.test(cells[name]!)) states[cells[name]!] = cells[status]!;
  }
  return states;
}

/** The ledger invariant, over every product: each level's on_hand is the sum of its movements, and the product's quantity the sum of its levels. */
export async function ledgerBreaks(cluster: LocalCluster): Promise<unknown[]> {
  return onPrimary(cluster, async (sql) => [
    ...(await sql`
      SELECT 'level' AS what, l.product_id, l.location_id, l.on_hand, coalesce(sum(m.delta), 0)::int AS movements
      FROM stock_levels l
      LEFT JOIN stock_movements m ON m.product_id = l.product_id AND m.location_id = l.location_id
      GROUP BY l.product_id, l.location_id, l.on_hand
      HAVING l.on_hand <> coalesce(sum(m.delta), 0)`),
    ...(await sql`
      SELECT 'product' AS what, p.id, p.quantity, coalesce(sum(l.on_hand), 0)::int AS levels
      FROM products p LEFT JOIN stock_levels l ON l.product_id = p.id
      GROUP BY p.id, p.quantity
      HAVING p.quantity <> coalesce(sum(l.on_hand), 0)`),
  ]);
}
