/** The cursors of the product listing: which key each sort pages by, and how it is checked. */
import { encodeCursor, isTimestamp, parseKeysetCursor, type Keyset } from '../http/cursor.ts';
import { fitsProductName, PRICE_TEXT } from './model.ts';
import type { ProductListRow } from './queries.ts';
import type { ProductSort } from './model.ts';

type SortField = 'name' | 'price' | 'created_at';

const fieldOf = (sort: ProductSort) => sort.replace(/^-/, '') as SortField;

/** A cursor is made for one sort of one listing (active or archived products). */
const labelOf = (sort: ProductSort, archived: boolean) => (archived ? `archived:${sort}` : sort);

/** What a key of each sort field may be: a value as the service stores it. */
const KEY_CHECKS: Record<SortField, (key: string) => boolean> = {
  // A name as the service stores them: the same characters and length in code points.
  name: fitsProductName,
  price: (key) => PRICE_TEXT.test(key),
  created_at: isTimestamp,
};

/** Checks a cursor's key against its sort, so only well-typed values reach SQL. */
export function parseProductCursor(text: string, sort: ProductSort, archived: boolean): Keyset {
  return parseKeysetCursor(text, labelOf(sort, archived), KEY_CHECKS[fieldOf(sort)]);
}

/** The cursor of the page after the one that ends with `last`. */
export function productCursorAfter(last: ProductListRow, sort: ProductSort, archived: boolean): string {
  // A price below 10^8 with 2 decimals prints as plain decimal text, which the cursor check accepts.
  return encodeCursor(labelOf(sort, archived), [String(last[fieldOf(sort)]), last.id]);
}
