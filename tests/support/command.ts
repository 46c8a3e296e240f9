import { join } from 'node:path';

const ROOT = join(import.meta.dir, '../..');

/** Runs one of the project's scripts (e.g. src/cli/import.ts) as a user would, on `databaseUrl`. */
export async function runCommand(script: string, args: string[], databaseUrl: string) {
  const proc = Bun.spawn(['bun', script, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}
