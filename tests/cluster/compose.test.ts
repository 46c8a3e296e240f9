/**
 * deploy/compose.cluster.yml, checked without a Docker engine: its services, their
 * health checks and HAProxy's backend (deploy/haproxy.cfg, shared with
 * deploy/local-cluster.sh) agree with each other and with the files they name.
 */
import { describe, expect, test } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDatabaseUrl } from '../../src/cli/database-url.ts';

const deploy = join(import.meta.dir, '../../deploy');
const compose = Bun.YAML.parse(readFileSync(join(deploy, 'compose.cluster.yml'), 'utf8')) as any;
const services = compose.services as Record<string, any>;
const haproxyCfg = readFileSync(join(deploy, 'haproxy.cfg'), 'utf8');

const apis = Object.keys(services).filter((name) => /^api\d+$/.test(name));
const dataNodes = Object.keys(services).filter((name) => /^node\d+$/.test(name));

/** The `server` lines of the backend `api` section: name, host, port, options. */
function backendServers(cfg: string) {
  const lines = cfg.split('\n');
  const start = lines.findIndex((l) => /^backend api\b/.test(l));
  const servers: { name: string; host: string; port: number; options: string }[] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^\S/.test(line)) break; // the next section
    const match = /^\s+server\s+(\S+)\s+([^:\s]+):(\d+)\s*(.*)$/.exec(line);
    if (match) servers.push({ name: match[1]!, host: match[2]!, port: Number(match[3]), options: match[4]! });
  }
  return servers;
}

/** A compose volume entry "./file:/target:ro" as its source and target. */
const mount = (entry: string) => {
  const [source, target] = entry.split(':');
  return { source: source!, target: target! };
};

describe('deploy/compose.cluster.yml', () => {
  test('a monitor, two data nodes and 2-3 API hosts; every PostgreSQL and API service has a health check', () => {
    expect(services.monitor).toBeDefined();
    expect(dataNodes).toEqual(['node1', 'node2']);
    expect(apis.length).toBeGreaterThanOrEqual(2);
    expect(apis.length).toBeLessThanOrEqual(3);
    for (const name of ['monitor', ...dataNodes, ...apis])
      expect({ name, test: services[name].healthcheck?.test }).toMatchObject({
        name,
        test: expect.any(Array),
      });
    // The data nodes report to the monitor service; node2 is created after node1 (it joins as the standby).
    for (const node of dataNodes) {
      const monitor = parseDatabaseUrl(services[node].environment.PG_AUTOCTL_MONITOR);
      expect(monitor.hosts).toEqual([{ host: 'monitor', port: '5432' }]);
      expect(services[node].depends_on).toBeDefined();
    }
    expect(services.node2.depends_on.node1.condition).toBe('service_healthy');
  });

  test("each API host's health check asks its own /readyz on its PORT; its database URL names every data node", () => {
    for (const api of apis) {
      const env = services[api].environment;
      const probe = (services[api].healthcheck.test as string[]).join(' ');
      expect(probe).toContain(`http://127.0.0.1:${env.PORT}/readyz`);
      const url = parseDatabaseUrl(env.DATABASE_ADMIN_URL);
      expect(url.hosts.map((h) => h.host).sort()).toEqual(dataNodes);
      expect(url.params.get('target_session_attrs')).toBe('read-write');
    }
  });

  test("HAProxy's backend is exactly the API services, on their PORT, each checked; the check is GET /readyz", () => {
    const servers = backendServers(haproxyCfg);
    expect(servers.map((s) => s.name)).toEqual(apis);
    for (const server of servers) {
      expect(server.host).toBe(server.name);
      expect(server.port).toBe(Number(services[server.name].environment.PORT));
      expect(server.options).toMatch(/\bcheck\b/);
    }
    expect(haproxyCfg).toMatch(/http-check send meth GET uri \/readyz\b/);
    expect(haproxyCfg).toMatch(/http-check expect status 200/);
  });

  test("HAProxy's service mounts deploy/haproxy.cfg and its 503 page where its environment says, and publishes its bind port on loopback", () => {
    const haproxy = services.haproxy;
    const mounts = (haproxy.volumes as string[]).map(mount);
    expect(mounts).toContainEqual({ source: './haproxy.cfg', target: '/usr/local/etc/haproxy/haproxy.cfg' });
    expect(mounts).toContainEqual({ source: './haproxy-503.http', target: haproxy.environment.INVENTORY_HAPROXY_503 });
    for (const m of mounts) expect(existsSync(join(deploy, m.source))).toBe(true);
    const bindPort = String(haproxy.environment.INVENTORY_HTTP_BIND).split(':').at(-1);
    expect(haproxy.ports).toEqual([`127.0.0.1:${bindPort}:${bindPort}`]);
    const dependsOn = Array.isArray(haproxy.depends_on) ? haproxy.depends_on : Object.keys(haproxy.depends_on);
    expect([...dependsOn].sort()).toEqual(apis);
    // Nothing else is published: the databases and API hosts are reached through the compose network only.
    for (const [name, service] of Object.entries(services))
      if (name !== 'haproxy') expect({ name, ports: service.ports }).toEqual({ name, ports: undefined });
  });

  test('what the services build and mount exists', () => {
    for (const service of Object.values(services)) {
      if (service.build) expect(existsSync(join(deploy, service.build.context, service.build.dockerfile))).toBe(true);
      for (const entry of (service.volumes ?? []) as string[]) {
        const { source } = mount(entry);
        if (source.startsWith('.')) expect(existsSync(join(deploy, source))).toBe(true);
        else expect(compose.volumes).toHaveProperty(source);
      }
    }
  });

  test.skipIf(!existsSync('/usr/sbin/haproxy'))(
    'HAProxy accepts deploy/haproxy.cfg as the compose service reads it (haproxy -c)',
    () => {
      const check = Bun.spawnSync(['/usr/sbin/haproxy', '-c', '-f', join(deploy, 'haproxy.cfg')], {
        env: {
          PATH: process.env.PATH,
          INVENTORY_HTTP_BIND: '127.0.0.1:8080',
          INVENTORY_HAPROXY_503: join(deploy, 'haproxy-503.http'),
        },
      });
      expect({ code: check.exitCode, output: check.stdout.toString() + check.stderr.toString() }).toMatchObject({ code: 0 });
    },
  );
});
