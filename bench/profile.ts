/**
 * Where the benchmark's CPU goes: per-process CPU time from /proc (the server,
 * PostgreSQL with its exited backends, the load generator) and a summary of a
 * Bun CPU profile (`--cpu-prof`) by function and by package.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system, every thread) a live process has used. */
export function processCpuSeconds(pid: number): number {
  const f = statFields(pid);
  // utime and stime are fields 14 and 15 of /proc/PID/stat (11 and 12 after the state).
  return f ? (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND : 0;
}

/**
 * CPU seconds PostgreSQL has used: the postmaster and its live children, plus
 * the children it has reaped (backends of closed connections, pgbench's).
 */
export function postgresCpuSeconds(postmasterPid: number): number {
  const own = statFields(postmasterPid);
  // cutime and cstime (fields 16 and 17): the children it has reaped.
  const reaped = own ? (Number(own[13]) + Number(own[14])) / TICKS_PER_SECOND : 0;
  return [postmasterPid, ...postgresChildren(postmasterPid)].reduce((sum, pid) => sum + processCpuSeconds(pid), reaped);
}

/** Waits (at most `ms`) until these processes have exited and been reaped, so their CPU shows in their parent's. */
export async function waitForExit(pids: number[], ms = 2000): Promise<void> {
  const until = performance.now() + ms;
  while (pids.some((pid) => statFields(pid) !== undefined) && performance.now() < until) await Bun.sleep(10);
}

/** The postmaster's children now: its backends and background processes. */
export function postgresChildren(postmasterPid: number): number[] {
  // Field 4 of /proc/PID/stat (index 1 here) is the parent pid.
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => Number(statFields(pid)?.[1]) === postmasterPid);
}

export function postmasterPid(pgdata: string): number {
  return Number(readFileSync(`${pgdata}/postmaster.pid`, 'utf8').split('\n')[0]);
}

type ProfileNode = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
type CpuProfile = { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };

export type ProfileSummary = {
  sampledMs: number;
  functions: { name: string; where: string; selfPct: number }[];
  packages: { name: string; selfPct: number }[];
};

/** The package (or part of the service) a profile frame belongs to. */
function packageOf(url: string): string {
  if (url === '' || url === '[native code]') return 'Bun runtime (native: HTTP server, sockets, strings, JSON, GC)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (m) return m[1]!;
  if (url.includes('/src/')) return 'the service (src/)';
  if (/^(node|internal|bun):/.test(url) || url.startsWith('internal:')) return 'Bun runtime (JS builtins: node:net, streams)';
  return url;
}

/**
 * Self time by function and by package. Each sample stands for the time since
 * the previous one, capped at four sampling intervals, so that idle gaps (no
 * request in flight) are not charged to whatever ran last.
 */
export function summarizeProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const deltas = profile.timeDeltas.filter((d) => d > 0).sort((a, b) => a - b);
  const interval = deltas[Math.floor(deltas.length / 2)] ?? 1000;
  const self = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const d = Math.min(profile.timeDeltas[i + 1] ?? interval, interval * 4);
    const frame = byId.get(id)?.callFrame;
    if (!frame || frame.functionName === '(idle)' || frame.functionName === '(program)') return;
    self.set(id, (self.get(id) ?? 0) + d);
    total += d;
  });
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const packages = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const where = f.url
      ? `${f.url.replace(/^.*?\/(node_modules|src)\//, '$1/')}${f.lineNumber >= 0 ? `:${f.lineNumber + 1}` : ''}`
      : '[native code]';
    const key = `${f.functionName}@${where}`;
    const entry = functions.get(key) ?? { name: f.functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const pkg = packageOf(f.url);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
  }
  const pct = (us: number) => (100 * us) / (total || 1);
  return {
    sampledMs: total / 1000,
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, selfPct: pct(f.us) })),
    packages: [...packages.entries()].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, selfPct: pct(us) })),
  };
}

export function readProfile(dir: string): CpuProfile {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  return JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as CpuProfile;
}

/** How one pgbench run went: transactions per second, and PostgreSQL's CPU per transaction. */
export type PgbenchResult = { tps: number; cpuUs: number };

/**
 * Runs `pgbench -n -M prepared` with `clients` clients, `transactions` each, on `script`
 * against `url`, and charges PostgreSQL's CPU (its exited backends included) to it.
 */
export async function pgbenchCpu(o: {
  postmaster: number;
  url: string;
  script: string;
  vars: Record<string, number>;
  clients: number;
  transactions: number;
  env?: Record<string, string>;
}): Promise<PgbenchResult> {
  const before = new Set(postgresChildren(o.postmaster));
  const cpu = postgresCpuSeconds(o.postmaster);
  const proc = Bun.spawn(
    [
      Bun.which('pgbench') ?? '/usr/lib/postgresql/15/bin/pgbench',
      ...['-n', '-M', 'prepared', '-c', String(o.clients), '-j', '1', '-t', String(o.transactions), '-f', o.script],
      ...Object.entries(o.vars).flatMap(([k, v]) => ['-D', `${k}=${v}`]),
      o.url,
    ],
    { stdout: 'pipe', stderr: 'pipe', env: { ...process.env, ...o.env } },
  );
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  await waitForExit(postgresChildren(o.postmaster).filter((pid) => !before.has(pid)));
  const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);
  if (!tps) throw new Error(`pgbench failed: ${out}${err}`);
  return { tps, cpuUs: ((postgresCpuSeconds(o.postmaster) - cpu) / (o.transactions * o.clients)) * 1e6 };
}
