/**
 * PostgreSQL connection URLs as libpq reads them, several hosts included:
 *   postgres://user:password@host1:5432,host2:5432/inventory_db?target_session_attrs=read-write
 * (what `pg_autoctl show uri` prints). The WHATWG URL parser (`new URL`)
 * refuses such a host list, so the commands read and rebuild every database
 * URL with these helpers instead.
 */
import postgres from 'postgres';

export type DatabaseHost = { host: string; port?: string };

export type DatabaseUrl = {
  scheme: string;
  user: string;
  password?: string;
  /** In the URL's order; an IPv6 address keeps its brackets. */
  hosts: DatabaseHost[];
  database: string;
  params: URLSearchParams;
};

/** The URL is not a postgres:// URL this module can read. */
export class DatabaseUrlError extends Error {}

/** None of a URL's hosts is a primary (each is a standby, or does not answer). */
export class NoPrimaryError extends Error {}

const URL_PATTERN = /^(postgres(?:ql)?):\/\/([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?(?:#.*)?$/;

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new DatabaseUrlError(`the database URL's ${what} is not correctly percent-encoded`);
  }
}

function parseHost(text: string): DatabaseHost {
  const bracketed = /^(\[[^\]]*\])(?::(\d*))?$/.exec(text);
  const [, host, port] = bracketed ?? /^([^:]*)(?::(\d*))?$/.exec(text) ?? [];
  if (host === undefined) throw new DatabaseUrlError(`the database URL's host "${text}" is not host or host:port`);
  return port ? { host: decode(host, 'host'), port } : { host: decode(host, 'host') };
}

/** Reads a postgres:// or postgresql:// URL with one host or several (host:port,host:port). */
export function parseDatabaseUrl(text: string): DatabaseUrl {
  const match = URL_PATTERN.exec(text.trim());
  if (!match) throw new DatabaseUrlError('the database URL must look like postgres://user:password@host:port/database');
  const [, scheme, authority = '', path = '', query = ''] = match;
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? '' : authority.slice(0, at);
  const hostText = authority.slice(at + 1);
  const colon = userinfo.indexOf(':');
  const user = decode(colon === -1 ? userinfo : userinfo.slice(0, colon), 'user name');
  const password = colon === -1 ? undefined : decode(userinfo.slice(colon + 1), 'password');
  return {
    scheme: scheme!,
    user,
    ...(password === undefined ? {} : { password }),
    hosts: hostText.split(',').map(parseHost),
    database: decode(path, 'database name'),
    params: new URLSearchParams(query),
  };
}

const encodeHost = (host: string) => (host.startsWith('[') ? host : encodeURIComponent(host));

/** Writes a parsed URL back; every part is percent-encoded once. */
export function formatDatabaseUrl(u: DatabaseUrl): string {
  const userinfo =
    u.user || u.password !== undefined
      ? `${encodeURIComponent(u.user)}${u.password === undefined ? '' : `:${encodeURIComponent(u.password)}`}@`
      : '';
  const hosts = u.hosts.map((h) => `${encodeHost(h.host)}${h.port ? `:${h.port}` : ''}`).join(',');
  // libpq decodes %20 but not +, which URLSearchParams writes for a space.
  const query = u.params.toString().replaceAll('+', '%20');
  return `${u.scheme}://${userinfo}${hosts}/${encodeURIComponent(u.database)}${query ? `?${query}` : ''}`;
}

/** The same server(s) and options, another database and, when given, another login. */
export function withDatabase(url: string, database: string, user?: string, password?: string): string {
  const u = parseDatabaseUrl(url);
  return formatDatabaseUrl({ ...u, database, ...(user ? { user } : {}), ...(password ? { password } : {}) });
}

/** The URL's hosts as people write them, for messages: "db1:5432, db2:5432" (no credentials). */
export function describeHosts(url: string): string {
  try {
    return parseDatabaseUrl(url)
      .hosts.map((h) => `${h.host || 'localhost'}:${h.port ?? '5432'}`)
      .join(', ');
  } catch {
    return 'DATABASE_URL';
  }
}

/** Whether the URL names more than one host. */
export function hasSeveralHosts(url: string): boolean {
  try {
    return parseDatabaseUrl(url).hosts.length > 1;
  } catch {
    return false;
  }
}

/** One URL per host of `url`, each with the URL's credentials, database and options. */
export function singleHostUrls(url: string): string[] {
  const u = parseDatabaseUrl(url);
  return u.hosts.map((host) => formatDatabaseUrl({ ...u, hosts: [host] }));
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Whether every host of the URL is this machine's loopback. */
export function isLoopback(url: string): boolean {
  return parseDatabaseUrl(url).hosts.every((h) => LOOPBACK.has(h.host));
}

/** The URL with `name` set to `value` unless it already has that parameter. */
export function withDefaultParam(url: string, name: string, value: string): string {
  const u = parseDatabaseUrl(url);
  if (u.params.has(name)) return url;
  u.params.set(name, value);
  return formatDatabaseUrl(u);
}

/**
 * For a URL with several hosts: the same URL with target_session_attrs=read-write
 * unless it says otherwise, so that a pool on it (the API's) connects to the
 * primary, whichever host it is now, and never to a standby. A one-host URL is
 * returned as it is.
 */
export function forWrites(url: string): string {
  return hasSeveralHosts(url) ? withDefaultParam(url, 'target_session_attrs', 'read-write') : url;
}

/**
 * For a command that writes once (provisioning, seeds): a URL with several
 * hosts becomes the one-host URL of the primary (see primaryUrl); a one-host
 * URL is returned as it is. A standby is skipped even when it cannot open the
 * database at all (not yet replicated there), which would end a connection
 * attempt through the host list.
 */
export async function writableUrl(url: string): Promise<string> {
  return hasSeveralHosts(url) ? primaryUrl(url) : url;
}

/**
 * The one-host URL of the first host of `url` that is a primary (not in
 * recovery), asked with postgres.js; keeps asking until `waitMs` have passed
 * (one round when 0). Throws naming each host's answer when none is.
 */
export async function primaryUrl(url: string, { waitMs = 0, connectTimeoutS = 5 } = {}): Promise<string> {
  const candidates = singleHostUrls(url).map((single) => {
    const u = parseDatabaseUrl(single);
    u.params.delete('target_session_attrs'); // each host is asked what it is
    return { url: single, probe: formatDatabaseUrl(u), host: describeHosts(single) };
  });
  const deadline = Date.now() + waitMs;
  for (;;) {
    const answers: string[] = [];
    for (const candidate of candidates) {
      const sql = postgres(candidate.probe, { max: 1, connect_timeout: connectTimeoutS, onnotice: () => {} });
      try {
        const [row] = await sql<{ primary: boolean }[]>`SELECT NOT pg_is_in_recovery() AS primary`;
        if (row!.primary) return candidate.url;
        answers.push(`${candidate.host} is a standby`);
      } catch (error) {
        answers.push(`${candidate.host}: ${error instanceof Error ? error.message : String(error)}`);
      } finally {
        await sql.end({ timeout: 1 }).catch(() => {});
      }
    }
    if (Date.now() >= deadline) throw new NoPrimaryError(`no primary among the database hosts (${answers.join('; ')})`);
    await Bun.sleep(Math.min(500, Math.max(0, deadline - Date.now())));
  }
}

/** The driver's codes for a server that could not be reached (refused, silent, unknown or gone). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * One line for a command whose database could not be used at all, or
 * undefined for any other error: nothing answered at the URL's hosts, or
 * none of them is a primary (the driver's TARGET_SESSION_ATTRS_MISMATCH).
 */
export function connectionFailure(code: unknown, url: string): string | undefined {
  if (typeof code !== 'string') return undefined;
  if (UNREACHABLE.has(code)) return `cannot connect to PostgreSQL at ${describeHosts(url)} (set DATABASE_URL)`;
  if (code === 'TARGET_SESSION_ATTRS_MISMATCH') {
    return `no primary PostgreSQL at ${describeHosts(url)}, only standbys: retry once one is promoted (or check DATABASE_URL)`;
  }
  return undefined;
}
