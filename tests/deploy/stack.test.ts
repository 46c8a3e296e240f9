import { afterAll, describe, expect, test } from 'bun:test';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import { documentedFetch } from '../support/contract.ts';

// Runs what `./run.sh` runs (src/cli/stack.ts) on its own ports and data directory.
const root = join(import.meta.dir, '../..');
const dataDir = mkdtempSync(join(tmpdir(), 'inventory-stack-'));
chmodSync(dataDir, 0o755); // PostgreSQL runs as the postgres user when the suite runs as root
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

type Stack = { proc: Bun.Subprocess<'ignore', 'pipe', 'pipe'>; base: string; output: () => string };

async function startStack(pgPort: number, apiPort: number): Promise<Stack> {
  const proc = Bun.spawn(['bun', 'src/cli/stack.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      INVENTORY_DATA_DIR: dataDir,
      PGPORT: String(pgPort),
      PORT: String(apiPort),
      LOG_LEVEL: 'warn',
    },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  let text = '';
  const decoder = new TextDecoder();
  void (async () => {
    for await (const chunk of proc.stdout) text += decoder.decode(chunk);
  })();
  const base = `http://127.0.0.1:${apiPort}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`stack exited early: ${text}${await new Response(proc.stderr).text()}`);
    const ready = await documentedFetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { proc, base, output: () => text };
    await Bun.sleep(100);
  }
  proc.kill();
  throw new Error(`stack did not become ready: ${text}`);
}

async function postgresRunning(port: number): Promise<boolean> {
  return Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } }).then(
    (s) => (s.end(), true),
    () => false,
  );
}

describe('./run.sh serve (embedded PostgreSQL)', () => {
  test('serves, stops cleanly on Ctrl-C, and keeps the data on the next start without re-applying anything', async () => {
    const pgPort = await freePort();
    const first = await startStack(pgPort, await freePort());
    expect(first.output()).toContain('Applying: 20261122000001_create_catalog.sql');
    expect(first.output()).toContain(`psql postgresql://inventory_user:inventory_pass@localhost:${pgPort}/inventory_db`);
    const seeded = (await (await documentedFetch(`${first.base}/products?limit=1000`)).json()) as unknown[];
    expect(seeded.length).toBeGreaterThanOrEqual(40);
    const created = await documentedFetch(`${first.base}/products`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Kept across restarts', price: 1.5, quantity: 2 }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: number };

    // The API's role works with rows but cannot touch the schema or the migration history.
    const api = postgres(`postgres://inventory_api:inventory_api_pass@127.0.0.1:${pgPort}/inventory_db`, {
      max: 1,
      onnotice: () => {},
    });
    try {
      expect((await api`SELECT count(*)::int AS n FROM schema_migrations`)[0]!.n).toBeGreaterThan(0);
      expect(await api`INSERT INTO schema_migrations VALUES ('29990101000000')`.catch((e) => e.code)).toBe('42501');
      expect(await api`DROP TABLE products`.catch((e) => e.code)).toBe('42501');
    } finally {
      await api.end();
    }

    first.proc.kill('SIGINT');
    expect(await first.proc.exited).toBe(0);
    expect(await postgresRunning(pgPort)).toBe(false);

    const second = await startStack(pgPort, await freePort());
    expect(second.output()).not.toContain('Applying:');
    const again = await documentedFetch(`${second.base}/products/${id}`);
    expect(again.status).toBe(200);
    const all = (await (await documentedFetch(`${second.base}/products?limit=1000`)).json()) as unknown[];
    expect(all.length).toBe(seeded.length + 1);
    second.proc.kill('SIGTERM');
    expect(await second.proc.exited).toBe(0);
  }, 90_000);
});
