import { MAX_PRODUCT_NAME } from './text.ts';

/**
 * Opaque keyset cursors: the sort they belong to and the last row's key,
 * as base64url JSON. Clients must not build them; the server checks them.
 */
export function encodeCursor(sort: string, key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify([sort, ...key])).toString('base64url');
}

/**
 * The longest cursor the service can write, so the listing's cursor limit
 * always admits its own Link rel="next". The longest key is a product name:
 * MAX_PRODUCT_NAME code points of at most 4 UTF-8 bytes each. JSON.stringify
 * writes none of the characters a name may hold longer than that (it escapes
 * only " and \, to 2 bytes, control characters, which names may not hold, and
 * unpaired surrogates, which they may not hold either). Around the key: the
 * longest sort label and the largest id. Base64url writes 4 characters per 3
 * bytes, without padding. (A price or timestamp key is far shorter.)
 */
const LONGEST_KEY_BYTES = MAX_PRODUCT_NAME * 4;
const FRAME_BYTES = Buffer.byteLength(JSON.stringify(['archived:-created_at', '', Number.MAX_SAFE_INTEGER]));
export const MAX_CURSOR_LENGTH = Math.ceil(((FRAME_BYTES + LONGEST_KEY_BYTES) * 4) / 3);

/** The key of a cursor made for `sort`, or null when it is not one of ours. */
export function decodeCursor(text: string, sort: string): unknown[] | null {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (!Array.isArray(parsed) || parsed[0] !== sort) return null;
    return parsed.slice(1);
  } catch {
    return null;
  }
}

/** Same path and query, with the cursor replaced: the target of a Link rel="next". */
export function nextLink(url: string, cursor: string): string {
  const u = new URL(url);
  u.searchParams.set('cursor', cursor);
  return `<${u.pathname}${u.search}>; rel="next"`;
}
