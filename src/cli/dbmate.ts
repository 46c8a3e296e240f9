import { resolveBinary } from 'dbmate';
import { hasSeveralHosts, isLoopback, primaryUrl, withDefaultParam } from './database-url.ts';
import { MIGRATIONS_DIR } from './paths.ts';

/**
 * Runs dbmate on the project's migrations: `up`, `down`, `status`, `rollback`, ...
 * A URL with several hosts (a primary and its standbys) is given to dbmate as
 * the one-host URL of the primary, found first (waiting as long as `--wait-timeout`
 * with `--wait`): dbmate's driver reads no host list, and migrations must run on
 * the primary.
 */
export async function dbmate(databaseUrl: string, args: string[], quiet = false): Promise<string> {
  const target = hasSeveralHosts(databaseUrl) ? await primaryUrl(databaseUrl, { waitMs: waitOf(args) }) : databaseUrl;
  const url = withLoopbackSslDisabled(target);
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

/** How long dbmate's own `--wait` would wait for the database (its default: 60 s), in ms; 0 without --wait. */
function waitOf(args: string[]): number {
  if (!args.includes('--wait')) return 0;
  const i = args.indexOf('--wait-timeout');
  const text = i === -1 ? '60s' : (args[i + 1] ?? '60s');
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text);
  if (!match) return 60_000;
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
}

/** dbmate's driver insists on TLS unless told otherwise; a loopback server needs none. */
function withLoopbackSslDisabled(url: string): string {
  return isLoopback(url) ? withDefaultParam(url, 'sslmode', 'disable') : url;
}
