/**
 * Where receivers may be (src/webhooks/address.ts): public unicast addresses
 * only, judged after resolution, IPv4-mapped IPv6 as the IPv4 address it maps;
 * everything else only with WEBHOOK_ALLOW_PRIVATE.
 */
import { describe, expect, test } from 'bun:test';
import { addressRange, describeAddress, isPublicAddress, receiverUrl, resolveReceiver } from '../../src/webhooks/address.ts';
import { pinnedTarget } from '../../src/webhooks/deliverer.ts';

const STRICT = { allowPrivate: false, timeoutMs: 2000 };

describe('addresses', () => {
  test.each([
    ['8.8.8.8'],
    ['93.184.215.14'],
    ['1.1.1.1'],
    ['2606:4700:4700::1111'],
    ['2a00:1450:4001:80b::200e'],
    ['::ffff:8.8.8.8'],
  ])('%s is public', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });

  test.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.254', 'private'],
    ['192.168.0.10', 'private'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['169.254.169.254', 'linkLocal'],
    ['169.254.1.1', 'linkLocal'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.2.7', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fd00::1', 'uniqueLocal'],
    ['fc00::7', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    // IPv4-mapped: judged as the IPv4 address
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    // ranges that embed IPv4 addresses (NAT64, 6to4, Teredo)
    ['64:ff9b::7f00:1', 'rfc6052'],
    ['2002:7f00:1::', '6to4'],
    ['2001::1', 'teredo'],
  ])('%s is not public (%s)', (address, range) => {
    expect(addressRange(address)).toBe(range);
    expect(isPublicAddress(address)).toBe(false);
  });

  test('the metadata address is named as such, in either spelling', () => {
    expect(describeAddress('169.254.169.254')).toBe('the cloud metadata address');
    expect(describeAddress('::ffff:169.254.169.254')).toBe('the cloud metadata address');
    expect(describeAddress('fd00:ec2::254')).toBe('the cloud metadata address');
    expect(describeAddress('10.0.0.1')).toBe('a private address');
    expect(describeAddress('::')).toBe('an unspecified address');
  });
});

describe('receiver URLs', () => {
  test('are normalized http(s) URLs without credentials', () => {
    expect(receiverUrl('HTTPS://Hooks.Example.NET:443/a/../in?x=1')).toEqual({ url: 'https://hooks.example.net/in?x=1' });
    expect(receiverUrl('http://2130706433/')).toEqual({ url: 'http://127.0.0.1/' });
    expect(receiverUrl('http://[::FFFF:127.0.0.1]/')).toEqual({ url: 'http://[::ffff:7f00:1]/' });
    expect(receiverUrl('file:///etc/passwd')).toEqual({ problem: 'must be an http or https URL' });
    expect(receiverUrl('gopher://x/')).toEqual({ problem: 'must be an http or https URL' });
    expect(receiverUrl('https://a:b@x.example/')).toEqual({ problem: 'must not contain a user name or password' });
    expect(receiverUrl('not a url')).toEqual({ problem: 'must be an absolute http or https URL' });
  });
});

describe('resolution', () => {
  const at = (url: string) => new URL(url);

  test('a literal address is judged as it is, without a lookup', async () => {
    const lookup = () => Promise.reject(new Error('no lookup expected'));
    expect(await resolveReceiver(at('http://8.8.8.8/x'), { ...STRICT, lookup })).toEqual({ ok: true, address: '8.8.8.8' });
    expect(await resolveReceiver(at('http://169.254.169.254/latest/meta-data'), { ...STRICT, lookup })).toEqual({
      ok: false,
      refusal: 'not_allowed',
      address: '169.254.169.254',
      detail: '169.254.169.254 is the cloud metadata address',
    });
    expect(await resolveReceiver(at('http://[::ffff:127.0.0.1]:8080/'), { ...STRICT, lookup })).toMatchObject({
      ok: false,
      refusal: 'not_allowed',
    });
    expect(await resolveReceiver(at('http://[::1]/'), { ...STRICT, lookup })).toMatchObject({
      ok: false,
      refusal: 'not_allowed',
    });
    expect(await resolveReceiver(at('http://0x7f.1/'), { ...STRICT, lookup })).toMatchObject({
      ok: false,
      refusal: 'not_allowed',
    });
  });

  test('a name is judged by what it resolves to: localhost is loopback', async () => {
    expect(await resolveReceiver(at('http://localhost:8080/hooks'), STRICT)).toEqual({
      ok: false,
      refusal: 'not_allowed',
      address: '127.0.0.1',
      detail: 'localhost resolves to 127.0.0.1, a loopback address',
    });
  });

  test('every address of a name must be public; the first is the one connected to', async () => {
    const lookup = async () => ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'];
    expect(await resolveReceiver(at('https://hooks.example.net/'), { ...STRICT, lookup })).toEqual({
      ok: true,
      address: '93.184.215.14',
    });
    const mixed = async () => ['93.184.215.14', '10.0.0.5'];
    expect(await resolveReceiver(at('https://hooks.example.net/'), { ...STRICT, lookup: mixed })).toEqual({
      ok: false,
      refusal: 'not_allowed',
      address: '10.0.0.5',
      detail: 'hooks.example.net resolves to 10.0.0.5, a private address',
    });
  });

  test('a name without addresses, or whose lookup does not answer in time, is unresolvable', async () => {
    expect(await resolveReceiver(at('https://hooks.example.invalid/'), STRICT)).toMatchObject({
      ok: false,
      refusal: 'unresolvable',
    });
    const none = async () => [];
    expect(await resolveReceiver(at('https://a.example/'), { ...STRICT, lookup: none })).toMatchObject({
      ok: false,
      refusal: 'unresolvable',
    });
    const never = () => new Promise<string[]>(() => {});
    expect(await resolveReceiver(at('https://slow.example/'), { ...STRICT, timeoutMs: 50, lookup: never })).toEqual({
      ok: false,
      refusal: 'unresolvable',
      detail: 'slow.example: the lookup timed out',
    });
  });

  test('WEBHOOK_ALLOW_PRIVATE allows any address, and looks nothing up', async () => {
    const lookup = () => Promise.reject(new Error('no lookup expected'));
    const rules = { allowPrivate: true, timeoutMs: 2000, lookup };
    expect(await resolveReceiver(at('http://localhost:8080/'), rules)).toEqual({ ok: true });
    expect(await resolveReceiver(at('http://169.254.169.254/'), rules)).toEqual({ ok: true });
  });
});

describe('the connection goes to the checked address', () => {
  test('the name is replaced by the address it was checked at; Host and the TLS server name keep the name', () => {
    expect(pinnedTarget(new URL('https://hooks.example.net:8443/in?x=1'), '93.184.215.14')).toEqual({
      href: 'https://93.184.215.14:8443/in?x=1',
      headers: { host: 'hooks.example.net:8443' },
      tls: { serverName: 'hooks.example.net' },
    });
    expect(pinnedTarget(new URL('http://hooks.example.net/in'), '2606:2800:21f:cb07::1')).toEqual({
      href: 'http://[2606:2800:21f:cb07::1]/in',
      headers: { host: 'hooks.example.net' },
      tls: undefined,
    });
    // A literal address, or none checked (WEBHOOK_ALLOW_PRIVATE): the URL as it is.
    expect(pinnedTarget(new URL('https://8.8.8.8/in'), '8.8.8.8')).toEqual({
      href: 'https://8.8.8.8/in',
      headers: {},
      tls: undefined,
    });
    expect(pinnedTarget(new URL('http://localhost:8080/in'), undefined)).toEqual({
      href: 'http://localhost:8080/in',
      headers: {},
      tls: undefined,
    });
  });

  test('a request to the pinned address reaches it, naming the host it was meant for', async () => {
    const seen: { host: string | null; path: string }[] = [];
    const server = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: (req) => {
        seen.push({ host: req.headers.get('host'), path: new URL(req.url).pathname });
        return new Response(null, { status: 204 });
      },
    });
    try {
      // receiver.invalid resolves nowhere: only the pinned address can be reached.
      const to = pinnedTarget(new URL(`http://receiver.invalid:${server.port}/pinned`), '127.0.0.1');
      const res = await fetch(to.href, { method: 'POST', headers: to.headers, body: '{}', proxy: false });
      expect(res.status).toBe(204);
      expect(seen).toEqual([{ host: `receiver.invalid:${server.port}`, path: '/pinned' }]);
    } finally {
      await server.stop(true);
    }
  });
});
