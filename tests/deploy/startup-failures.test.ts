import { afterAll, describe, expect, test } from 'bun:test';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { dbmate } from '../../src/cli/dbmate.ts';
import { provisionDatabase } from '../../src/cli/provision.ts';
import { freePort, startEmbeddedPostgres } from '../../src/cli/embedded-postgres.ts';
import { createTestDatabase } from '../support/db.ts';

// Every fatal error during start-up ends the run within seconds: exit code 1,
// one line on stderr naming the cause and what to do, and nothing it started
// left running (no PostgreSQL on its data directory, its port free again).
const root = join(import.meta.dir, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'inventory-startup-'));
chmodSync(scratch, 0o755); // PostgreSQL runs as the postgres user when the suite runs as root
afterAll(async () => {
  // A failed expectation must not leave a PostgreSQL behind either.
  for (const pid of processesIn(scratch)) process.kill(pid, 'SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

let dirs = 0;
function dataDir(): string {
  const dir = join(scratch, `data-${++dirs}`);
  mkdirSync(dir, { mode: 0o755 });
  return dir;
}

type Outcome = { code: number | 'still running'; stderr: string[]; stdout: string };

/** Runs a command with a small environment; gives up (and kills it) after 30 s. */
async function run(argv: string[], env: Record<string, string>): Promise<Outcome> {
  const proc = Bun.spawn(argv, {
    cwd: root,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/root', LOG_LEVEL: 'warn', ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const code = await Promise.race([proc.exited, Bun.sleep(30_000).then(() => 'still running' as const)]);
  if (code === 'still running') proc.kill('SIGKILL');
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, stdout, stderr: stderr.split('\n').filter((l) => l.trim()) };
}

const stack = (env: Record<string, string>) => run(['bun', 'src/cli/stack.ts'], env);

/** Processes working in `dir` or below: a PostgreSQL and its children chdir to their data directory. */
function processesIn(dir: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/cwd`).startsWith(dir);
      } catch {
        return false;
      }
    });
}

async function listening(port: number): Promise<boolean> {
  return Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } }).then(
    (s) => (s.end(), true),
    () => false,
  );
}

/** What every failed start must leave behind: nothing running on that data directory or port. */
async function expectNothingLeft(dir: string, pgPort: number) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && (processesIn(dir).length > 0 || (await listening(pgPort)))) await Bun.sleep(100);
  expect(processesIn(dir)).toEqual([]);
  expect(await listening(pgPort)).toBe(false);
}

/** A listener on a free port, standing for another program. */
async function holdPort() {
  const port = await freePort();
  const listener = Bun.listen({ hostname: '127.0.0.1', port, socket: { data() {} } });
  return { port, release: () => listener.stop(true) };
}

/** A directory whose initdb and postgres cannot be executed, like binaries the postgres user cannot reach. */
function unexecutableBinaries(): string {
  const dir = join(scratch, `bin-${++dirs}`);
  mkdirSync(dir);
  for (const name of ['initdb', 'postgres']) writeFileSync(join(dir, name), '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  return dir;
}

describe('./run.sh serve: a fatal start-up error ends the run with one line', () => {
  test('invalid configuration: nothing is started', async () => {
    const dir = dataDir();
    const pgPort = await freePort();
    const out = await stack({
      INVENTORY_DATA_DIR: dir,
      PGPORT: String(pgPort),
      PORT: String(await freePort()),
      API_KEYS: 'short',
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toEqual([
      'run.sh: invalid configuration: API_KEYS: every key must be at least 16 characters (fix the environment; see Configuration in README.md)',
    ]);
    expect(readdirSync(dir)).toEqual([]);
    await expectNothingLeft(dir, pgPort);
  }, 40_000);

  test('the API port is taken by another program: nothing is started', async () => {
    const dir = dataDir();
    const pgPort = await freePort();
    const api = await holdPort();
    try {
      const out = await stack({ INVENTORY_DATA_DIR: dir, PGPORT: String(pgPort), PORT: String(api.port) });
      expect(out.code).toBe(1);
      expect(out.stderr).toEqual([
        `run.sh: port ${api.port} on 127.0.0.1 is in use by another program: stop it or set PORT to another port`,
      ]);
      expect(readdirSync(dir)).toEqual([]);
      await expectNothingLeft(dir, pgPort);
    } finally {
      api.release();
    }
  }, 40_000);

  test("PostgreSQL's port is taken by another program", async () => {
    const dir = dataDir();
    const pg = await holdPort();
    try {
      const out = await stack({ INVENTORY_DATA_DIR: dir, PGPORT: String(pg.port), PORT: String(await freePort()) });
      expect(out.code).toBe(1);
      expect(out.stderr).toEqual([
        `run.sh: port ${pg.port} on 127.0.0.1 is in use by another program: stop it, set PGPORT to a free port, or set DATABASE_URL to use that server`,
      ]);
      expect(processesIn(dir)).toEqual([]);
      expect(readdirSync(join(dir, 'postgres'))).toEqual([]); // no cluster was initialised for nothing
    } finally {
      pg.release();
    }
  }, 40_000);

  test('initdb fails (the data directory holds something else)', async () => {
    const dir = dataDir();
    const pgPort = await freePort();
    mkdirSync(join(dir, 'postgres', 'pgdata'), { recursive: true });
    writeFileSync(join(dir, 'postgres', 'pgdata', 'notes.txt'), 'not a cluster');
    const out = await stack({ INVENTORY_DATA_DIR: dir, PGPORT: String(pgPort), PORT: String(await freePort()) });
    expect(out.code).toBe(1);
    expect(out.stderr).toHaveLength(1);
    expect(out.stderr[0]).toMatch(
      /^run\.sh: initdb could not create the PostgreSQL cluster in .*\/pgdata: directory ".*" exists but is not empty\. Remove or empty that directory, or choose another data directory$/,
    );
    await expectNothingLeft(dir, pgPort);
  }, 40_000);

  test('the PostgreSQL binaries cannot be executed (EACCES)', async () => {
    const dir = dataDir();
    const pgPort = await freePort();
    const bin = unexecutableBinaries();
    const out = await stack({
      INVENTORY_DATA_DIR: dir,
      PGPORT: String(pgPort),
      PORT: String(await freePort()),
      INVENTORY_PG_BIN_DIR: bin,
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toEqual([
      `run.sh: cannot run ${bin}/initdb (EACCES): reinstall the binaries (bun install --frozen-lockfile) or set INVENTORY_PG_BIN_DIR to a directory with initdb and postgres`,
    ]);
    await expectNothingLeft(dir, pgPort);
  }, 40_000);

  describe('on a data directory whose database conflicts with the project', () => {
    const dir = dataDir();
    let pgPort: number;

    /** Starts the cluster of `dir` alone, runs `fn` as the database's owner, stops it. */
    async function asOwner(fn: (ownerUrl: string, sql: postgres.Sql) => Promise<unknown>) {
      const pg = await startEmbeddedPostgres({ dir: join(dir, 'postgres'), port: pgPort, persistent: true });
      try {
        const ownerUrl = await provisionDatabase(pg.adminUrl);
        const sql = postgres(ownerUrl, { max: 1, onnotice: () => {} });
        try {
          await fn(ownerUrl, sql);
        } finally {
          await sql.end();
        }
      } finally {
        await pg.stop();
      }
    }

    test('a migration fails: PostgreSQL is stopped again', async () => {
      pgPort = await freePort();
      await asOwner((_, sql) => sql`CREATE TABLE categories (id int)`);
      const out = await stack({ INVENTORY_DATA_DIR: dir, PGPORT: String(pgPort), PORT: String(await freePort()) });
      expect(out.code).toBe(1);
      expect(out.stderr).toHaveLength(1);
      expect(out.stderr[0]).toMatch(
        /^run\.sh: a migration failed: .*relation "categories" already exists.*; fix the migration \(db\/migrations\) or the database, then run again$/,
      );
      expect(out.stdout).toContain('starting the embedded PostgreSQL');
      await expectNothingLeft(dir, pgPort);
    }, 60_000);

    test('the seeds fail: PostgreSQL is stopped again', async () => {
      await asOwner(async (ownerUrl, sql) => {
        await sql`DROP TABLE categories`;
        await dbmate(ownerUrl, ['up'], true);
        await sql.unsafe(`
          CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'categories are closed'; END $$;
          CREATE TRIGGER refuse BEFORE INSERT ON categories FOR EACH ROW EXECUTE FUNCTION refuse();`);
      });
      const out = await stack({ INVENTORY_DATA_DIR: dir, PGPORT: String(pgPort), PORT: String(await freePort()) });
      expect(out.code).toBe(1);
      expect(out.stderr).toEqual([
        'run.sh: loading the seeds (db/seeds) failed: categories are closed; fix the seed files or the database, then run again',
      ]);
      await expectNothingLeft(dir, pgPort);
    }, 60_000);
  });
});

describe('src/server.ts', () => {
  test('its port taken by another program: one line, exit code 1', async () => {
    const db = await createTestDatabase();
    const api = await holdPort();
    try {
      const out = await run(['bun', 'src/server.ts'], { DATABASE_URL: db.url, PORT: String(api.port) });
      expect(out.code).toBe(1);
      expect(out.stderr).toEqual([
        `inventory-api: port ${api.port} on 127.0.0.1 is in use by another program: stop it or set PORT to another port`,
      ]);
    } finally {
      api.release();
      await db.drop();
    }
  }, 40_000);
});

describe('bun test', () => {
  test('a throwaway PostgreSQL that cannot start ends the run with one line', async () => {
    const bin = unexecutableBinaries();
    const out = await run(['bun', 'test', 'tests/health.test.ts'], { INVENTORY_PG_BIN_DIR: bin });
    expect(out.code).toBe(1);
    const lines = out.stderr.filter((l) => l.startsWith('bun test:'));
    expect(lines).toEqual([
      `bun test: the throwaway PostgreSQL did not start: cannot run ${bin}/initdb (EACCES): reinstall the binaries (bun install --frozen-lockfile) or set INVENTORY_PG_BIN_DIR to a directory with initdb and postgres (or set TEST_DATABASE_URL to use a server)`,
    ]);
    expect(out.stderr.join('\n')).not.toContain(' pass');
  }, 40_000);
});
