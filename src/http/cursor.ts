import { ApiError } from '../errors.ts';
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

/** The answer to a cursor that is not one this listing wrote (422, naming `cursor`). */
export function invalidCursor(message: string): ApiError {
  return new ApiError('validation_failed', 'the cursor is not valid for this listing', [{ path: 'cursor', message }]);
}

/** Whether a cursor's id is one a row can have: a positive safe integer. */
export const isRowId = (id: unknown): id is number => Number.isSafeInteger(id) && (id as number) > 0;

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

/** An RFC 3339 UTC timestamp as we write them, naming a real instant (no 13th month, no February 30th). */
export function isTimestamp(value: string): boolean {
  if (!TIMESTAMP.test(value)) return false;
  const date = new Date(value);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 19) === value.slice(0, 19);
}

/** The last row of a keyset page, as its sort key and id: where the next page starts. */
export type Keyset = { key: string; id: number };

/**
 * A cursor of a listing sorted by one key then id: its key must pass
 * `isKey` (so only well-typed values reach SQL) and its id be a row id;
 * otherwise 422 validation_failed.
 */
export function parseKeysetCursor(text: string, label: string, isKey: (key: string) => boolean): Keyset {
  const [key, id] = decodeCursor(text, label) ?? [];
  if (typeof key !== 'string' || !isKey(key) || !isRowId(id)) {
    throw invalidCursor('not a cursor returned by this listing with the same sort');
  }
  return { key, id };
}
