// The benchmark's accounting: CPU read from /proc for the server and for
// PostgreSQL, and the summary of a Bun CPU profile by package and function.
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { postgresChildren, postgresCpuSeconds, processCpuSeconds, summarizeProfile, waitForExit } from '../../bench/profile.ts';
import { withAdmin } from '../support/db.ts';

const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({
  id,
  callFrame: { functionName, url, lineNumber: 9 },
  children,
});

describe('profile summary', () => {
  const profile = {
    nodes: [
      frame(1, '(root)', '', [2, 3, 4, 5]),
      frame(2, 'DataRow', '/app/node_modules/postgres/src/connection.js'),
      frame(3, 'toProduct', '/app/src/products/handlers.ts'),
      frame(4, 'writeBuffered', '[native code]'),
      frame(5, 'dispatch', '/app/node_modules/@hono/zod-openapi/dist/index.js'),
    ],
    // One sample every 1000 µs, except a 50 ms gap before the last sample.
    samples: [2, 2, 3, 4, 4, 4, 5, 2],
    timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 50_000],
  };

  test('charges self time to packages and functions, and does not charge idle gaps', () => {
    const s = summarizeProfile(profile);
    // A sample stands for the time until the next one; the 50 ms gap after the 7th counts as 4 intervals.
    expect(s.sampledMs).toBeCloseTo(11, 5);
    const pkg = Object.fromEntries(s.packages.map((p) => [p.name, p.selfPct]));
    expect(pkg.postgres).toBeCloseTo((100 * 3) / 11, 5);
    expect(pkg['the service (src/)']).toBeCloseTo((100 * 1) / 11, 5);
    expect(pkg['@hono/zod-openapi']).toBeCloseTo((100 * 4) / 11, 5);
    expect(Object.entries(pkg).find(([k]) => k.startsWith('Bun runtime (native'))?.[1]).toBeCloseTo((100 * 3) / 11, 5);
    expect(s.functions[0]).toMatchObject({ name: 'dispatch', where: 'node_modules/@hono/zod-openapi/dist/index.js:10' });
    expect(s.functions.map((f) => f.name)).toEqual(['dispatch', 'DataRow', 'writeBuffered', 'toProduct']);
  });
});

describe('CPU accounting from /proc', () => {
  test('a busy process shows the CPU it used', () => {
    const before = processCpuSeconds(process.pid);
    // Busy until 0.1 s of CPU shows (the core may be shared), for 5 s of wall time at most.
    const until = performance.now() + 5000;
    let x = 0;
    while (processCpuSeconds(process.pid) - before < 0.1 && performance.now() < until) {
      for (let i = 0; i < 100_000; i++) x += Math.sqrt(x + 1);
    }
    expect(x).toBeGreaterThan(0);
    expect(processCpuSeconds(process.pid) - before).toBeGreaterThanOrEqual(0.1);
  });

  test("PostgreSQL's CPU includes its backends, also after they exit", async () => {
    const { backend, postmaster } = await withAdmin(async (sql) => {
      const [row] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      // Field 4 of /proc/PID/stat, the parent: the postmaster.
      const parent = Number(readFileSync(`/proc/${row!.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      return { backend: row!.pid, postmaster: parent };
    });
    expect(postmaster).not.toBe(backend);
    const before = postgresCpuSeconds(postmaster);
    // Work done by a connection that is closed before the second reading.
    const worker = await withAdmin(async (sql) => {
      await sql`SELECT count(*) FROM generate_series(1, 3000000)`;
      return (await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid;
    });
    await waitForExit([worker]);
    expect(postgresChildren(postmaster)).not.toContain(worker);
    expect(postgresCpuSeconds(postmaster) - before).toBeGreaterThanOrEqual(0.1);
  });
});
