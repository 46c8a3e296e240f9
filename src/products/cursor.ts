/** The cursors of the product listing: which key each sort pages by, and how it is checked. */
import { encodeCursor, isTimestamp, parseKeysetCursor, type Keyset } from '../http/cursor.ts';
import { fitsProductName, PRICE_TEXT, SKU_PATTERN } from './model.ts';
import type { ProductListRow, ProductSearchRow } from './queries.ts';
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

// A search pages by (rank, id); a SKU-prefix listing by (SKU in lower case, id).

const searchLabel = (archived: boolean) => (archived ? 'archived:search' : 'search');
const skuLabel = (archived: boolean) => (archived ? 'archived:sku' : 'sku');

/** A rank as float8 text: a tier of 2 to 8 plus a similarity of 0 to 1 (see searchProducts). */
const isRank = (key: string) => /^\d(\.\d+)?$/.test(key) && Number(key) >= 2 && Number(key) <= 9;
/** A SKU as the SKU order keys it: in lower case. */
const isSkuKey = (key: string) => SKU_PATTERN.test(key) && key === key.toLowerCase();

export function parseSearchCursor(text: string, archived: boolean): Keyset {
  return parseKeysetCursor(text, searchLabel(archived), isRank);
}

/** The cursor after a search row: its rank as JavaScript prints the float8 (the shortest text that reads back the same). */
export function searchCursorAfter(last: ProductSearchRow, archived: boolean): string {
  return encodeCursor(searchLabel(archived), [String(last.rank), last.id]);
}

export function parseSkuPrefixCursor(text: string, archived: boolean): Keyset {
  return parseKeysetCursor(text, skuLabel(archived), isSkuKey);
}

export function skuPrefixCursorAfter(last: ProductListRow, archived: boolean): string {
  return encodeCursor(skuLabel(archived), [last.sku.toLowerCase(), last.id]);
}
