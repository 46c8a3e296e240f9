import type { Context } from 'hono';
import { ApiError } from '../errors.ts';

/** The ETag of a row version. */
export const etag = (version: number) => `"${version}"`;

/** Sets the ETag of the representation a response carries, and returns that representation. */
export function withEtag<T>(c: Context, version: number, body: T): T {
  c.header('ETag', etag(version));
  return body;
}

/**
 * The versions an If-Match header accepts: undefined when absent or `*`.
 * If-Match compares strongly (RFC 9110): a tag matches only when it is
 * character for character one we send, so a weak tag never matches, nor does
 * `"01"` or `"1.0"` for version 1; a header that names no version of ours can
 * never match either: 412.
 */
export function expectedVersions(ifMatch: string | undefined): number[] | undefined {
  if (ifMatch === undefined || ifMatch.trim() === '*') return undefined;
  const versions = ifMatch
    .split(',')
    .map((tag) => /^\s*"([1-9]\d{0,8})"\s*$/.exec(tag)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number);
  if (versions.length === 0) {
    throw new ApiError('precondition_failed', 'If-Match does not name a current version of this resource');
  }
  return versions;
}
