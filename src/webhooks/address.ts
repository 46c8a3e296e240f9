/**
 * Where webhooks may be sent. A receiver URL is http or https, without a user
 * name or password, at most MAX_URL_LENGTH characters; and, unless
 * WEBHOOK_ALLOW_PRIVATE is set, every address its host resolves to is a
 * public unicast address: loopback, private (RFC 1918), carrier-grade NAT,
 * link-local (with the cloud metadata address 169.254.169.254), unique local,
 * unspecified, multicast, broadcast, documentation, reserved and the IPv6
 * ranges that embed IPv4 addresses (6to4, Teredo, NAT64) are refused. An
 * IPv4-mapped IPv6 address is judged as the IPv4 address it maps.
 *
 * The check runs when a subscription is written and again before every
 * delivery, and a delivery connects to the address that was checked (see
 * `resolveReceiver`), so a name that resolves elsewhere between the check and
 * the connection (DNS rebinding) is not followed.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { MAX_URL_LENGTH } from './model.ts';

/** What a receiver URL looks like as sent: a scheme of http or https, `://`, no whitespace. */
export const RECEIVER_URL_PATTERN = /^[Hh][Tt][Tt][Pp][Ss]?:\/\/\S+$/;

/** A receiver URL in its normal form, or why it cannot be one. */
export function receiverUrl(text: string): { url: string } | { problem: string } {
  if (text.length > MAX_URL_LENGTH) return { problem: `must be at most ${MAX_URL_LENGTH} characters` };
  if (!RECEIVER_URL_PATTERN.test(text)) {
    return {
      problem: /^[A-Za-z][A-Za-z0-9+.-]*:/.test(text) ? 'must be an http or https URL' : 'must be an absolute http or https URL',
    };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: 'must be an absolute http or https URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { problem: 'must be an http or https URL' };
  if (url.username !== '' || url.password !== '') return { problem: 'must not contain a user name or password' };
  if (url.hostname === '') return { problem: 'must name a host' };
  if (url.href.length > MAX_URL_LENGTH) return { problem: `must be at most ${MAX_URL_LENGTH} characters once normalized` };
  return { url: url.href };
}

/** An address as ipaddr.js parses it, IPv4-mapped IPv6 addresses as their IPv4 address; undefined when not an address. */
function parse(address: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const bare = address.replace(/^\[(.*)\]$/, '$1');
  if (!ipaddr.isValid(bare)) return undefined;
  return ipaddr.process(bare);
}

/** The special-purpose range of an address ('unicast' for an ordinary public one), as ipaddr.js names them. */
export function addressRange(address: string): string {
  const parsed = parse(address);
  if (!parsed) throw new Error(`not an IP address: ${address}`);
  return parsed.range();
}

/** Whether a receiver may be at this address without WEBHOOK_ALLOW_PRIVATE: public unicast only. */
export const isPublicAddress = (address: string) => addressRange(address) === 'unicast';

const RANGE_NAMES: Record<string, string> = {
  loopback: 'a loopback address',
  private: 'a private address',
  linkLocal: 'a link-local address',
  uniqueLocal: 'a unique local address',
  carrierGradeNat: 'a carrier-grade NAT address',
  unspecified: 'an unspecified address',
  multicast: 'a multicast address',
  broadcast: 'a broadcast address',
};

/** A range's name for people: "a loopback address", "the cloud metadata address". */
export function describeAddress(address: string): string {
  const bare = parse(address)?.toString();
  if (bare === '169.254.169.254' || bare === 'fd00:ec2::254') return 'the cloud metadata address';
  return RANGE_NAMES[addressRange(address)] ?? 'a reserved or special-purpose address';
}

export type Lookup = (hostname: string) => Promise<string[]>;

/** Every address a name resolves to (A and AAAA, as the system resolver answers). */
export const systemLookup: Lookup = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

/** Where a request to a receiver goes, or why it may not. */
export type Destination =
  /** `address`: the checked address to connect to; absent when the host is left to the system (WEBHOOK_ALLOW_PRIVATE). */
  | { ok: true; address?: string }
  | { ok: false; refusal: 'not_allowed'; address: string; detail: string }
  | { ok: false; refusal: 'unresolvable'; detail: string };

export type ReceiverRules = {
  allowPrivate: boolean;
  /** The longest a lookup may take. */
  timeoutMs: number;
  /** The resolver (the system's when absent). */
  lookup?: Lookup;
};

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('lookup timed out'), { code: 'ETIMEOUT' })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resolves a receiver URL's host and checks each of its addresses. With
 * allowPrivate nothing is looked up: every address is allowed.
 */
export async function resolveReceiver(url: URL, rules: ReceiverRules): Promise<Destination> {
  if (rules.allowPrivate) return { ok: true };
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  if (ipaddr.isValid(host)) {
    addresses = [host];
  } else {
    try {
      addresses = await withTimeout((rules.lookup ?? systemLookup)(host), rules.timeoutMs);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const why = code === 'ETIMEOUT' ? 'the lookup timed out' : 'no address found';
      return { ok: false, refusal: 'unresolvable', detail: `${host}: ${why}` };
    }
    if (addresses.length === 0) return { ok: false, refusal: 'unresolvable', detail: `${host}: no address found` };
  }
  for (const address of addresses) {
    if (!parse(address)) return { ok: false, refusal: 'unresolvable', detail: `${host}: not an address: ${address}` };
    if (!isPublicAddress(address)) {
      const where = address === host ? `${host} is` : `${host} resolves to ${address},`;
      return { ok: false, refusal: 'not_allowed', address, detail: `${where} ${describeAddress(address)}` };
    }
  }
  return { ok: true, address: addresses[0] };
}
