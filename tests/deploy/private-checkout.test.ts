import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import postgres from 'postgres';
import { freePort, RUNTIME_DIR } from '../../src/cli/embedded-postgres.ts';

// A clone of this commit in a directory only its owner may enter (mode 0700, as
// made by mktemp -d, or anything under /root): `./run.sh` serves and
// `./run.sh test` runs. As root, PostgreSQL runs as the postgres user, which
// cannot enter such a checkout. One clone serves both checks.
const root = join(import.meta.dir, '../..');
const home = mkdtempSync(join(tmpdir(), 'inventory-private-'));
const clone = join(home, 'app');
const env = { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/root', LOG_LEVEL: 'warn' };
let dataDir: string | undefined;
let serveOutput = '';
/** Where `./run.sh` said the data is. */
const dataDirIn = (output: string) => /data in (\S+)\) on 127\.0\.0\.1/.exec(output)?.[1];

/** Runs a command in the clone to its end (killed after `limitMs`). */
async function run(argv: string[], extra: Record<string, string> = {}, limitMs = 120_000) {
  const proc = Bun.spawn(argv, { cwd: clone, env: { ...env, ...extra }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
  const code = await Promise.race([proc.exited, Bun.sleep(limitMs).then(() => 'still running' as const)]);
  if (code === 'still running') proc.kill('SIGKILL');
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, output: out + err };
}

beforeAll(async () => {
  expect(statSync(home).mode & 0o777).toBe(0o700);
  const head = Bun.spawnSync(['git', 'rev-parse', 'HEAD'], { cwd: root }).stdout.toString().trim();
  const cloned = await Bun.spawn(['git', 'clone', '--quiet', root, clone], { stdout: 'ignore', stderr: 'inherit' }).exited;
  expect(cloned).toBe(0);
  expect((await run(['git', 'checkout', '--quiet', head])).code).toBe(0);
}, 60_000);

afterAll(() => {
  dataDir ??= dataDirIn(serveOutput);
  // Every PostgreSQL process of the clone's cluster (they chdir to its data directory) is gone by now; make sure.
  if (dataDir) {
    for (const pid of readdirSync('/proc')
      .filter((n) => /^\d+$/.test(n))
      .map(Number)) {
      try {
        if (readlinkSync(`/proc/${pid}/cwd`).startsWith(dataDir)) process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    // The per-checkout directory outside the clone, when the data went there.
    if (dataDir.startsWith(`${RUNTIME_DIR}/`)) rmSync(dirname(dataDir), { recursive: true, force: true });
  }
  rmSync(home, { recursive: true, force: true });
});

describe('a checkout in a private directory', () => {
  test('./run.sh serves, with the data where the postgres user can reach it, and stops on Ctrl-C', async () => {
    const pgPort = await freePort();
    const apiPort = await freePort();
    const proc = Bun.spawn(['./run.sh'], {
      cwd: clone,
      env: { ...env, PGPORT: String(pgPort), PORT: String(apiPort) },
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
    });
    for (const stream of [proc.stdout, proc.stderr]) {
      const decoder = new TextDecoder();
      void (async () => {
        for await (const chunk of stream) serveOutput += decoder.decode(chunk, { stream: true });
      })();
    }
    try {
      let ready = false;
      const deadline = Date.now() + 150_000; // the first run installs the dependencies
      while (!ready && proc.exitCode === null && Date.now() < deadline) {
        ready = await fetch(`http://127.0.0.1:${apiPort}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
        if (!ready) await Bun.sleep(250);
      }
      const output = serveOutput;
      expect({ ready, output: ready ? '' : output }).toEqual({ ready: true, output: '' });

      dataDir = dataDirIn(output);
      expect(dataDir).toBeDefined();
      if (process.getuid?.() === 0) {
        // The postgres user cannot enter the clone: the data lives outside it.
        expect(dataDir!.startsWith(`${RUNTIME_DIR}/app-`)).toBe(true);
        expect(existsSync(join(clone, '.data'))).toBe(false);
      } else {
        expect(dataDir).toBe(join(clone, '.data', 'postgres'));
      }

      // What the printed psql line connects to holds the seeded catalog.
      const psqlUrl = /psql\s+psql (postgresql:\/\/\S+)/.exec(output)?.[1];
      expect(psqlUrl).toBe(`postgresql://inventory_user:inventory_pass@localhost:${pgPort}/inventory_db`);
      const sql = postgres(psqlUrl!.replace('@localhost:', '@127.0.0.1:'), { max: 1, onnotice: () => {} });
      try {
        const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM products`;
        expect(row!.n).toBeGreaterThan(0);
      } finally {
        await sql.end();
      }
    } finally {
      proc.kill('SIGINT');
    }
    expect(await Promise.race([proc.exited, Bun.sleep(20_000).then(() => 'still running')])).toBe(0);
    const stillListening = await Bun.connect({ hostname: '127.0.0.1', port: pgPort, socket: { data() {} } }).then(
      (s) => (s.end(), true),
      () => false,
    );
    expect(stillListening).toBe(false);
  }, 200_000);

  test('./run.sh test runs the suite there', async () => {
    const result = await run(['./run.sh', 'test', 'tests/health.test.ts'], {}, 150_000);
    expect(result.output).toMatch(/\b[1-9]\d* pass\b/);
    expect(result.output).toMatch(/\b0 fail\b/);
    expect(result.code).toBe(0);
  }, 200_000);
});
