import { resolveBinary } from 'dbmate';
import { MIGRATIONS_DIR } from './paths.ts';

/** Runs dbmate on the project's migrations: `up`, `down`, `status`, `rollback`, ... */
export async function dbmate(databaseUrl: string, args: string[], quiet = false): Promise<string> {
  const url = withLoopbackSslDisabled(databaseUrl);
  const proc = Bun.spawn([resolveBinary(), '--url', url, '--migrations-dir', MIGRATIONS_DIR, '--no-dump-schema', ...args], {
    stdout: 'pipe',
    stderr: 'pipe',
    env: { ...process.env, DATABASE_URL: url },
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`dbmate ${args.join(' ')} failed (${code}): ${err || out}`);
  if (!quiet && out.trim()) process.stdout.write(out);
  return out;
}

/** dbmate's driver insists on TLS unless told otherwise; a loopback server needs none. */
function withLoopbackSslDisabled(url: string): string {
  const u = new URL(url);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  if (loopback && !u.searchParams.has('sslmode')) u.searchParams.set('sslmode', 'disable');
  return u.toString();
}
