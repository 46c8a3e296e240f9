/**
 * What a product is, apart from HTTP: its rules (SKU, name, price, quantity,
 * description) with the messages that refuse a value, the defaults a new
 * product gets, and the shape the API shows. The zod schemas
 * (src/products/schemas.ts) and the import's checks (src/import/queries.ts)
 * are built from these; where SQL states a rule again (the import's checks,
 * the table's CHECK constraints), tests/products/model.test.ts holds the two
 * equal. Name rules are shared with categories and live in src/http/text.ts.
 */
import { randomBytes } from 'node:crypto';
import { codePoints, isCleanName, MAX_PRODUCT_NAME } from '../http/text.ts';

/** The category of a product created without one. */
export const DEFAULT_CATEGORY = 'Uncategorized';

/** The stock movement that records a new product's quantity. */
export const INITIAL_MOVEMENT = 'initial';

/** The orders a listing can have; a leading "-" is descending. Ties are broken by id. */
export const SORTS = ['name', '-name', 'price', '-price', 'created_at', '-created_at'] as const;
export type ProductSort = (typeof SORTS)[number];

// ---------------------------------------------------------------------------
// SKU

export const SKU_MAX_LENGTH = 64;
const SKU_FIRST = '[A-Za-z0-9]';
const SKU_REST = '[A-Za-z0-9._-]';
/** 1 to 64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit (the CHECK products_sku_format). */
export const SKU_PATTERN = new RegExp(`^${SKU_FIRST}${SKU_REST}{0,${SKU_MAX_LENGTH - 1}}$`);
/**
 * SKU_PATTERN less its length limit, for SQL that checks the length apart:
 * PostgreSQL's regex engine is ten times slower on the bounded {0,63}.
 */
export const SKU_CHARACTERS = `^${SKU_FIRST}${SKU_REST}*$`;
export const SKU_MESSAGE = `1 to ${SKU_MAX_LENGTH} characters of A-Z a-z 0-9 . _ - starting with a letter or digit`;

/** A unique-enough SKU for products created without one: 60 random bits. */
export function generateSku(): string {
  return `SKU-${randomBytes(8).toString('hex').slice(0, 15).toUpperCase()}`;
}

// ---------------------------------------------------------------------------
// Search (GET /products?q= and ?sku_prefix=)

/** The longest search text, in code points, and the most words it may have. */
export const SEARCH_MAX_LENGTH = 100;
export const SEARCH_MAX_WORDS = 8;
/**
 * A search text must hold this many letters or digits in a row: the shortest
 * text from which a trigram (for SKUs) or a word index can narrow the search,
 * so that no query reads every product.
 */
export const SEARCH_MIN_RUN = 3;
const SEARCH_RUN = new RegExp(`[\\p{L}\\p{N}]{${SEARCH_MIN_RUN}}`, 'u');

export const SEARCH_MESSAGES = {
  short: `must contain at least ${SEARCH_MIN_RUN} letters or digits in a row`,
  words: `must have at most ${SEARCH_MAX_WORDS} words`,
} as const;

/** A search text as the query takes it: composed (NFC), trimmed, each run of white space one space. */
export const normalizeSearchText = (q: string) => q.normalize('NFC').trim().replace(/\s+/g, ' ');

/** Why a (normalized) search text cannot be searched, or undefined when it can. */
export function searchTextProblem(text: string): string | undefined {
  if (!SEARCH_RUN.test(text)) return SEARCH_MESSAGES.short;
  if (text.split(' ').length > SEARCH_MAX_WORDS) return SEARCH_MESSAGES.words;
  return undefined;
}

/** The SKU text a search matches: the search text in lower case when it could be part of a SKU, else null. */
export const skuSearchText = (text: string) => (/^[A-Za-z0-9._-]+$/.test(text) ? text.toLowerCase() : null);

/** A SKU prefix: the start of a SKU, so it starts with a letter or digit. */
export const SKU_PREFIX_PATTERN = new RegExp(`^${SKU_FIRST}${SKU_REST}{0,${SKU_MAX_LENGTH - 1}}$`);

/**
 * The SKUs (in lower case, byte order) that start with `prefix`: those from
 * `from` (the prefix) up to, not including, `to` (the prefix with its last
 * character the next one). SKU characters are ASCII below U+007F, so the next
 * one is ASCII too.
 */
export function skuPrefixRange(prefix: string): { from: string; to: string } {
  const from = prefix.toLowerCase();
  return { from, to: from.slice(0, -1) + String.fromCharCode(from.charCodeAt(from.length - 1) + 1) };
}

// ---------------------------------------------------------------------------
// Name (the rules of every name, src/http/text.ts, at a product's length)

export { MAX_PRODUCT_NAME };

/** Whether `s` holds only what a product name may, in characters and length (not checked: its trim, emptiness). */
export const fitsProductName = (s: string) => isCleanName(s) && codePoints(s) <= MAX_PRODUCT_NAME;

// ---------------------------------------------------------------------------
// Price: numeric(10,2), 0 to 99999999.99

export const PRICE_INTEGER_DIGITS = 8;
export const PRICE_DECIMALS = 2;
export const PRICE_MIN = 0;
/** The largest price, as decimal text and as a number. */
export const PRICE_MAX_TEXT = `${'9'.repeat(PRICE_INTEGER_DIGITS)}.${'9'.repeat(PRICE_DECIMALS)}`;
export const PRICE_MAX = Number(PRICE_MAX_TEXT);
/** A price as decimal text: 1 to 8 digits, then at most 2 decimals. */
export const PRICE_TEXT = new RegExp(`^\\d{1,${PRICE_INTEGER_DIGITS}}(\\.\\d{1,${PRICE_DECIMALS}})?$`);
/** PRICE_TEXT as a PostgreSQL regular expression (ASCII digits only, whatever the collation). */
export const PRICE_TEXT_SQL = `^[0-9]{1,${PRICE_INTEGER_DIGITS}}([.][0-9]{1,${PRICE_DECIMALS}})?$`;

export const PRICE_MESSAGES = {
  min: `must be at least ${PRICE_MIN}`,
  max: `must be at most ${PRICE_MAX_TEXT}`,
  decimals: `must have at most ${PRICE_DECIMALS} decimals`,
  text: `must be a decimal number with at most ${PRICE_DECIMALS} decimals, ${PRICE_MIN} to ${PRICE_MAX_TEXT}`,
} as const;

/** Whether a JSON number is a price: within bounds, and printed with at most 2 decimals. */
export const isPriceNumber = (n: number) => n >= PRICE_MIN && n <= PRICE_MAX && PRICE_TEXT.test(String(n));

// ---------------------------------------------------------------------------
// Quantity: a PostgreSQL integer, never below 0

export const QUANTITY_MIN = 0;
export const QUANTITY_MAX = 2147483647;
/** What a quantity's text may look like before its bounds are checked (SQL). */
export const QUANTITY_TEXT_SQL = '^-?[0-9]+$';

export const QUANTITY_MESSAGES = {
  whole: 'must be a whole number',
  min: `must be at least ${QUANTITY_MIN}`,
  max: `must be at most ${QUANTITY_MAX}`,
} as const;

// ---------------------------------------------------------------------------
// Description

export const MAX_DESCRIPTION = 2000;
export const DESCRIPTION_LENGTH_MESSAGE = `must be at most ${MAX_DESCRIPTION} characters`;

// ---------------------------------------------------------------------------
// The product as stored and as shown

/** A product as the single-product statements return it: price as numeric text, with its version (the ETag). */
export type ProductRow = {
  id: number;
  sku: string;
  name: string;
  description: string | null;
  price: string;
  quantity: number;
  /** On hand less what open reservations hold, over all locations. */
  available: number;
  category: string;
  created_at: string;
  updated_at: string;
  version: number;
};

/** The product as the API returns it: price as a JSON number (2 decimals at most, as stored), no version. */
export function toProduct({ version: _, ...row }: ProductRow) {
  return { ...row, price: Number(row.price) };
}

export type Product = ReturnType<typeof toProduct>;
