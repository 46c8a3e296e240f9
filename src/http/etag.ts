import { ApiError } from '../errors.ts';

/** The ETag of a row version. */
export const etag = (version: number) => `"${version}"`;

/**
 * The version an If-Match header asks for: undefined when absent or `*`.
 * A value that names no version of ours can never match: 412.
 */
export function expectedVersion(ifMatch: string | undefined): number | undefined {
  if (ifMatch === undefined || ifMatch.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"(\d{1,9})"\s*$/.exec(ifMatch);
  if (!match) throw new ApiError('precondition_failed', 'If-Match does not name a version of this resource');
  return Number(match[1]);
}
