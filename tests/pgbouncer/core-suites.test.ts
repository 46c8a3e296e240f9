import { afterAll, beforeAll, expect, test } from 'bun:test';
import { join } from 'node:path';
import { TEST_API_ROLE } from '../support/db.ts';
import { type PgBouncer, PGBOUNCER_AVAILABLE, SKIPPED, startPgBouncer } from './pgbouncer.ts';

// The core API suites, unchanged, with the app's pool through PgBouncer in
// transaction mode (tests/support/db.ts: TEST_POOLER_PORT) and DB_PREPARE=false:
// product CRUD, listing pages, stock adjustments with Idempotency-Key (retries,
// the same key at once), reservations and transfers.
const CORE_SUITES = [
  'tests/products/create.test.ts',
  'tests/products/edit.test.ts',
  'tests/products/list.test.ts',
  'tests/stock/adjustments.test.ts',
  'tests/idempotency/idempotency.test.ts',
  'tests/reservations/reservations.test.ts',
  'tests/transfers/transfers.test.ts',
];

const ROOT = join(import.meta.dir, '..', '..');
/** The child run's own bound; it takes about 20 s on a quiet machine. */
const CHILD_LIMIT_MS = 150_000;

let bouncer: PgBouncer | undefined;

beforeAll(async () => {
  if (!PGBOUNCER_AVAILABLE) return;
  const server = new URL(process.env.TEST_ADMIN_URL!);
  bouncer = await startPgBouncer({ serverPort: Number(server.port), users: [TEST_API_ROLE] });
});

afterAll(async () => {
  await bouncer?.stop();
});

/** Runs `bun test` on the core suites in a child process, its app's pool through PgBouncer. */
async function runSuites(dbPrepare: boolean) {
  const child = Bun.spawn(['bun', 'test', '--timeout', '30000', ...CORE_SUITES], {
    cwd: ROOT,
    env: {
      ...process.env,
      // The child uses this run's PostgreSQL (its own template database) instead of starting one.
      TEST_DATABASE_URL: process.env.TEST_ADMIN_URL,
      TEST_POOLER_PORT: String(bouncer!.port),
      TEST_DB_PREPARE: String(dbPrepare),
    },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const limit = setTimeout(() => child.kill('SIGKILL'), CHILD_LIMIT_MS);
  const [code, stdout, stderr] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  clearTimeout(limit);
  // bun test reports on stderr; its summary is the last lines.
  const output = `${stdout}${stderr}`;
  const summary = (name: string) => Number(new RegExp(`^\\s*(\\d+) ${name}$`, 'm').exec(output)?.[1] ?? Number.NaN);
  return { code, output, passed: summary('pass'), failed: summary('fail') };
}

test.skipIf(!PGBOUNCER_AVAILABLE)(
  'the core API suites pass with DB_PREPARE=false through PgBouncer 1.18 in transaction mode (pool size 2)',
  async () => {
    const run = await runSuites(false);
    const failures = run.output
      .split('\n')
      .filter((line) => line.startsWith('(fail)') || /error:/i.test(line))
      .slice(0, 40)
      .join('\n');
    expect({ code: run.code, failed: run.failed, failures }).toEqual({ code: 0, failed: 0, failures: '' });
    expect(run.passed).toBeGreaterThan(200);
  },
  CHILD_LIMIT_MS + 10_000,
);

if (!PGBOUNCER_AVAILABLE) test.skip(SKIPPED, () => {});
