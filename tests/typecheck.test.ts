// The TypeScript of the service, its tools, benchmark and tests type-checks
// (`bun run typecheck`): Bun runs TypeScript without checking it.
import { expect, test } from 'bun:test';
import { join } from 'node:path';

test('tsc --noEmit reports no error', async () => {
  const proc = Bun.spawn([process.execPath, 'x', 'tsc', '--noEmit', '-p', '.'], {
    cwd: join(import.meta.dir, '..'),
    env: { PATH: process.env.PATH },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect(`${out}${err}`).toBe('');
  expect(code).toBe(0);
}, 120_000);
