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
