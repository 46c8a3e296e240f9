import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { freePort } from '../../src/cli/embedded-postgres.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// No Docker engine runs where the suite runs. The image is checked by doing what
// its Dockerfile does, without an engine: copy what each COPY line names into an
// empty directory, run the install command there, then start the image's CMD.
const root = join(import.meta.dir, '../..');
const compose = Bun.YAML.parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as any;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

type Instruction = { op: string; args: string };
const instructions: Instruction[] = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => {
    const [op, ...rest] = l.split(/\s+/);
    return { op: op!.toUpperCase(), args: rest.join(' ') };
  });
const installAt = instructions.findIndex((i) => i.op === 'RUN' && /\bbun install\b/.test(i.args));
const cmd = JSON.parse(instructions.findLast((i) => i.op === 'CMD')!.args) as string[];

/** COPY's sources and destination, flags left out. */
function copyArgs(i: Instruction): { sources: string[]; dest: string } {
  const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
  return { sources: words.slice(0, -1), dest: words.at(-1)! };
}

/** Does what a COPY instruction does, from the repository into `image` (the image's WORKDIR). */
function copy(i: Instruction, image: string): void {
  const { sources, dest } = copyArgs(i);
  for (const source of sources) {
    const from = join(root, source);
    const isDir = statSync(from).isDirectory();
    const to = isDir || !dest.endsWith('/') ? join(image, dest) : join(image, dest, basename(source));
    mkdirSync(isDir ? to : join(to, '..'), { recursive: true });
    cpSync(from, to, { recursive: true });
  }
}

/** Runs a command to its end; its exit code and output. */
async function run(argv: string[], cwd: string, env: Record<string, string | undefined>) {
  const proc = Bun.spawn(argv, { cwd, env, stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: out + err };
}

describe('Dockerfile', () => {
  let image: string;
  let install: { code: number; output: string };

  beforeAll(async () => {
    image = mkdtempSync(join(tmpdir(), 'inventory-image-'));
    for (const i of instructions.slice(0, installAt)) if (i.op === 'COPY') copy(i, image);
    install = await run(['sh', '-c', instructions[installAt]!.args], image, { PATH: process.env.PATH, HOME: process.env.HOME });
    for (const i of instructions.slice(installAt + 1)) if (i.op === 'COPY') copy(i, image);
  }, 180_000);

  afterAll(() => rmSync(image, { recursive: true, force: true }));

  test('builds from the official Bun image at the version run.sh installs', () => {
    const bunVersion = /BUN_VERSION=(\S+)/.exec(readFileSync(join(root, 'run.sh'), 'utf8'))?.[1];
    expect(instructions[0]).toEqual({ op: 'FROM', args: `oven/bun:${bunVersion}` });
    expect(instructions[installAt]!.args).toMatch(/bun install --frozen-lockfile/);
    expect(cmd).toEqual(['bun', 'src/cli/stack.ts']);
  });

  test('copies only what the build context holds (nothing .dockerignore leaves out)', () => {
    for (const i of instructions.filter((i) => i.op === 'COPY')) {
      for (const source of copyArgs(i).sources) {
        expect(existsSync(join(root, source))).toBe(true);
        expect(ignored.filter((pattern) => source.replace(/^\.\//, '').split('/')[0] === pattern.replace(/\/$/, ''))).toEqual([]);
      }
    }
  });

  test('its install step succeeds with only the files copied before it', () => {
    expect(install.output).not.toContain('error:');
    expect(install.code).toBe(0);
    expect(existsSync(join(image, 'node_modules/postgres/package.json'))).toBe(true);
    // The postgres.js patch was applied, as in the repository's own install.
    const patched = (dir: string) => readFileSync(join(dir, 'node_modules/postgres/src/connection.js'), 'utf8');
    expect(patched(image) === patched(root)).toBe(true);
  });

  describe('the image runs its CMD', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase({ empty: true });
    });
    afterAll(async () => {
      await db?.drop();
    });

    test('migrates, seeds and serves from what the image holds', async () => {
      expect(install.code).toBe(0);
      const port = await freePort();
      const proc = Bun.spawn(cmd, {
        cwd: image,
        env: { PATH: process.env.PATH, DATABASE_URL: db.url, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn' },
        stdout: 'pipe',
        stderr: 'pipe',
      });
      try {
        let ready = false;
        const deadline = Date.now() + 30_000;
        while (!ready && proc.exitCode === null && Date.now() < deadline) {
          ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
            (r) => r.ok,
            () => false,
          );
          if (!ready) await Bun.sleep(100);
        }
        if (!ready) proc.kill();
        expect({
          ready,
          output: ready ? '' : (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text()),
        }).toEqual({ ready: true, output: '' });
        const products = (await (await fetch(`http://127.0.0.1:${port}/products`)).json()) as unknown[];
        expect(products.length).toBeGreaterThan(0);
      } finally {
        proc.kill('SIGTERM');
        expect(await proc.exited).toBe(0);
      }
    }, 60_000);
  });
});

describe('docker-compose.yml', () => {
  /** The value compose would use when the variables are unset: ${NAME:-default} → default. */
  const withDefaults = (text: string) => text.replace(/\$\{\w+:-([^}]*)\}/g, '$1');

  test('runs PostgreSQL of the same major version as the embedded default', () => {
    const image: string = compose.services.db.image;
    const embeddedMajor = String(pkg.dependencies['embedded-postgres']).split('.')[0];
    expect(image).toBe(`postgres:${embeddedMajor}`);
  });

  test('gives PostgreSQL a health check and a named volume', () => {
    const db = compose.services.db;
    expect(db.healthcheck.test.join(' ')).toContain('pg_isready');
    const [volume] = db.volumes as string[];
    const name = volume!.split(':')[0]!;
    expect(Object.keys(compose.volumes)).toContain(name);
  });

  test('starts the API only once the database is healthy, migrating as the owner', () => {
    const api = compose.services.api;
    expect(api.depends_on.db.condition).toBe('service_healthy');
    expect(api.environment.DATABASE_ADMIN_URL).toContain('@db:5432/');
  });

  test('publishes the database and the API on 127.0.0.1 only, unless told otherwise', () => {
    expect(compose.services.db.ports.map(withDefaults)).toEqual(['127.0.0.1:5432:5432']);
    expect(compose.services.api.ports.map(withDefaults)).toEqual(['127.0.0.1:8000:8000']);
    // Inside its container the API listens on every interface, or the published port would not reach it.
    expect(compose.services.api.environment.HOST).toBe('0.0.0.0');
    // Opening it up goes with API keys, passed through from the environment.
    expect(compose.services.api.environment.API_KEYS).toBe('${API_KEYS:-}');
  });
});
