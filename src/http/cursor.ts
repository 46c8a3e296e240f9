/**
 * Opaque keyset cursors: the sort they belong to and the last row's key,
 * as base64url JSON. Clients must not build them; the server checks them.
 */
export function encodeCursor(sort: string, key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify([sort, ...key])).toString('base64url');
}

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
