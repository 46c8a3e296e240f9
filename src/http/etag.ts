import type { Context } from 'hono';
import { ApiError } from '../errors.ts';

/**
 * What a product's representation depends on beyond its own row: its version counts every
 * change of the row (an edit, a stock change, archive, restore), and `available` also moves
 * without one, when a reservation is made, released or expires. Its category's name never
 * changes (categories are created and deleted, not renamed).
 */
export type Tagged = { version: number; available: number };

/** The product's ETag, `"<version>-<available>"`: it changes whenever its representation does. */
export const etag = ({ version, available }: Tagged) => `"${version}-${available}"`;

/** Sets the ETag of the representation a response carries, and returns that representation. */
export function withEtag<T>(c: Context, tagged: Tagged, body: T): T {
  c.header('ETag', etag(tagged));
  return body;
}

/**
 * Whether an If-None-Match header names `tag` (RFC 9110: a weak comparison, so `W/"x"`
 * matches `"x"`; `*` matches any current representation). A match answers a GET with 304.
 */
export function noneMatch(ifNoneMatch: string | undefined, tag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const opaque = tag.startsWith('W/') ? tag.slice(2) : tag;
  return ifNoneMatch.split(',').some((t) => {
    const candidate = t.trim();
    return candidate === '*' || (candidate.startsWith('W/') ? candidate.slice(2) : candidate) === opaque;
  });
}

/**
 * The versions an If-Match header accepts: undefined when absent or `*`.
 * If-Match guards an edit against other writes to the product: a tag matches
 * when it names the current version, either as the ETag we send
 * (`"<version>-<available>"`; available is not compared, since a reservation
 * does not change the product an edit is based on) or as the version alone
 * (`"<version>"`). The comparison is strong (RFC 9110): a weak tag never
 * matches, nor does `"01"` or `"1.0"` for version 1; a header that names no
 * version of ours can never match either: 412.
 */
export function expectedVersions(ifMatch: string | undefined): number[] | undefined {
  if (ifMatch === undefined || ifMatch.trim() === '*') return undefined;
  const versions = ifMatch
    .split(',')
    .map((tag) => /^\s*"([1-9]\d{0,8})(?:-(?:0|[1-9]\d{0,9}))?"\s*$/.exec(tag)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number);
  if (versions.length === 0) {
    throw new ApiError('precondition_failed', 'If-Match does not name a current version of this resource');
  }
  return versions;
}

/**
 * A listing page's weak ETag: from each row's id, updated_at (every change of the row sets
 * it) and available (which moves without one), and the page's next link. Equal tags mean
 * equal pages, not equal bytes (hence weak).
 */
export function pageEtag(rows: readonly { id: number; updated_at: string; available: number }[], next: string): string {
  let key = next;
  for (const r of rows) key += `|${r.id} ${r.updated_at} ${r.available}`;
  return `W/"${Bun.hash(key).toString(36)}"`;
}
