import { ApiError } from '../errors.ts';

/** The ETag of a row version. */
export const etag = (version: number) => `"${version}"`;

/**
 * The versions an If-Match header accepts: undefined when absent or `*`.
 * If-Match compares strongly (RFC 9110), so a weak tag never matches; a header
 * that names no version of ours can never match either: 412.
 */
export function expectedVersions(ifMatch: string | undefined): number[] | undefined {
  if (ifMatch === undefined || ifMatch.trim() === '*') return undefined;
  const versions = ifMatch
    .split(',')
    .map((tag) => /^\s*"(\d{1,9})"\s*$/.exec(tag)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number);
  if (versions.length === 0) {
    throw new ApiError('precondition_failed', 'If-Match does not name a current version of this resource');
  }
  return versions;
}
