import { describe, expect, test } from 'bun:test';
import postgres from 'postgres';
import {
  connectionFailure,
  DatabaseUrlError,
  describeHosts,
  forWrites,
  isLoopback,
  parseDatabaseUrl,
  singleHostUrls,
  withDatabase,
} from '../../src/cli/database-url.ts';

// What `pg_autoctl show uri` prints: `new URL()` refuses it ("Invalid URL").
const MULTI = 'postgres://inventory_api:s%40cret@10.0.0.1:5432,10.0.0.2:6432/inventory_db?target_session_attrs=read-write';

/** How postgres.js itself reads a URL (it parses without connecting). */
function driverView(url: string): Record<string, unknown> {
  const { host, port, user, pass, database, target_session_attrs } = postgres(url).options;
  return { host, port, user, pass, database, target_session_attrs };
}

describe('database URLs of several hosts', () => {
  test('are read host by host, with the credentials decoded', () => {
    expect(() => new URL(MULTI)).toThrow();
    const u = parseDatabaseUrl(MULTI);
    expect({ ...u, params: Object.fromEntries(u.params) }).toEqual({
      scheme: 'postgres',
      user: 'inventory_api',
      password: 's@cret',
      hosts: [
        { host: '10.0.0.1', port: '5432' },
        { host: '10.0.0.2', port: '6432' },
      ],
      database: 'inventory_db',
      params: { target_session_attrs: 'read-write' },
    });
    expect(describeHosts(MULTI)).toBe('10.0.0.1:5432, 10.0.0.2:6432');
  });

  test('another database and login keep every host and option, and postgres.js reads them as meant', () => {
    const url = withDatabase(MULTI, 'other_db', 'owner', 'p@ss:w/rd?');
    expect(url).toBe('postgres://owner:p%40ss%3Aw%2Frd%3F@10.0.0.1:5432,10.0.0.2:6432/other_db?target_session_attrs=read-write');
    expect(driverView(url)).toEqual({
      host: ['10.0.0.1', '10.0.0.2'],
      port: [5432, 6432],
      user: 'owner',
      pass: 'p@ss:w/rd?',
      database: 'other_db',
      target_session_attrs: 'read-write',
    });
  });

  test('one URL per host, for finding the primary', () => {
    expect(singleHostUrls(MULTI)).toEqual([
      'postgres://inventory_api:s%40cret@10.0.0.1:5432/inventory_db?target_session_attrs=read-write',
      'postgres://inventory_api:s%40cret@10.0.0.2:6432/inventory_db?target_session_attrs=read-write',
    ]);
  });

  test('a pool writes through the primary: read-write unless the URL says otherwise; one host is left alone', () => {
    const bare = 'postgres://u:p@db1:5432,db2:5432/inventory_db';
    expect(forWrites(bare)).toBe(`${bare}?target_session_attrs=read-write`);
    expect(forWrites(`${bare}?target_session_attrs=any`)).toBe(`${bare}?target_session_attrs=any`);
    expect(driverView(forWrites(`${bare}?target_session_attrs=any`)).target_session_attrs).toBeNull();
    expect(forWrites('postgres://u:p@db1:5432/inventory_db')).toBe('postgres://u:p@db1:5432/inventory_db');
  });

  test('IPv6 hosts, hosts without a port, and loopback', () => {
    const u = parseDatabaseUrl('postgresql://u@[::1]:5433,localhost/db');
    expect(u.hosts).toEqual([{ host: '[::1]', port: '5433' }, { host: 'localhost' }]);
    expect(isLoopback('postgresql://u@[::1]:5433,localhost/db')).toBe(true);
    expect(isLoopback('postgres://u@127.0.0.1:5432,10.0.0.2:5432/db')).toBe(false);
  });

  test('what is not a postgres URL is refused with a message, not a stack trace', () => {
    expect(() => parseDatabaseUrl('mysql://u@h/db')).toThrow(DatabaseUrlError);
    expect(() => parseDatabaseUrl('postgres://u@h:port/db')).toThrow('is not host or host:port');
    expect(() => parseDatabaseUrl('postgres://u:%zz@h/db')).toThrow('password is not correctly percent-encoded');
  });

  test('a command that cannot reach any host, or only standbys, says so in one line naming the hosts', () => {
    expect(connectionFailure('ECONNREFUSED', MULTI)).toBe(
      'cannot connect to PostgreSQL at 10.0.0.1:5432, 10.0.0.2:6432 (set DATABASE_URL)',
    );
    expect(connectionFailure('TARGET_SESSION_ATTRS_MISMATCH', MULTI)).toStartWith(
      'no primary PostgreSQL at 10.0.0.1:5432, 10.0.0.2:6432',
    );
    expect(connectionFailure('23505', MULTI)).toBeUndefined();
  });
});
