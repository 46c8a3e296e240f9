import { z } from '@hono/zod-openapi';
import { MAX_CURSOR_LENGTH } from '../http/cursor.ts';
import { nameDescription, namePattern } from '../http/name-pattern.ts';
import { codePoints, MAX_CATEGORY_NAME, nameFilter, name, text, textUpTo } from '../http/text.ts';
import {
  DEFAULT_CATEGORY,
  MAX_DESCRIPTION,
  MAX_PRODUCT_NAME,
  PRICE_DECIMALS,
  PRICE_MAX,
  PRICE_MAX_TEXT,
  PRICE_MESSAGES,
  PRICE_MIN,
  PRICE_TEXT,
  QUANTITY_MAX,
  QUANTITY_MESSAGES,
  QUANTITY_MIN,
  normalizeSearchText,
  SEARCH_MAX_LENGTH,
  SEARCH_MAX_WORDS,
  SEARCH_MIN_RUN,
  searchTextProblem,
  SKU_MAX_LENGTH,
  SKU_MESSAGE,
  SKU_PATTERN,
  SKU_PREFIX_PATTERN,
  SORTS,
} from './model.ts';

const sku = () => z.string().regex(SKU_PATTERN, SKU_MESSAGE);

/** A price as JSON sends it: a number or a decimal string, at most 2 decimals, 0..99999999.99. */
export const PriceInput = z
  .union([
    z
      .number()
      .min(PRICE_MIN, PRICE_MESSAGES.min)
      .max(PRICE_MAX, PRICE_MESSAGES.max)
      .refine((n) => PRICE_TEXT.test(String(n)), PRICE_MESSAGES.decimals)
      // Not `multipleOf: 0.01`: 0.01 has no exact binary value, so JSON Schema validators
      // (ajv among them) would refuse 19.99. The rule is in the description instead.
      .openapi({ description: `At most ${PRICE_DECIMALS} decimals`, example: 19.99 }),
    z.string().regex(PRICE_TEXT, PRICE_MESSAGES.text).openapi({ example: '19.99' }),
  ])
  .openapi({
    description: `Price, ${PRICE_MIN} to ${PRICE_MAX_TEXT} with at most ${PRICE_DECIMALS} decimals: a number, or a decimal string such as "19.99"`,
    example: 19.99,
  });

export const ProductSchema = z
  .object({
    id: z.number().int().openapi({ example: 42 }),
    sku: z.string().openapi({ example: 'ELEC-WL-MOUSE' }),
    name: z.string().openapi({ example: 'Wireless Optical Mouse' }),
    description: z.string().nullable().openapi({ example: '2.4 GHz receiver, 1600 DPI' }),
    price: z.number().openapi({ example: 19.9 }),
    quantity: z.number().int().openapi({ description: 'Units on hand, at every location', example: 85 }),
    available: z
      .number()
      .int()
      .openapi({ description: 'Units that can be sold now: on hand less open reservations, at every location', example: 80 }),
    category: z.string().openapi({ example: 'Electronics' }),
    created_at: z.string().openapi({ format: 'date-time', example: '2026-11-22T10:15:30.123456Z' }),
    updated_at: z.string().openapi({ format: 'date-time', example: '2026-11-22T10:15:30.123456Z' }),
  })
  .openapi('Product');

export const ProductCreateSchema = z
  .strictObject({
    name: name(MAX_PRODUCT_NAME).openapi({
      // The pattern bounds the trimmed length; maxLength would count the whitespace around it too.
      maxLength: undefined,
      pattern: namePattern(MAX_PRODUCT_NAME),
      description: `${nameDescription(MAX_PRODUCT_NAME)} Unique case-insensitively among active products.`,
      example: 'Wireless Optical Mouse',
    }),
    price: PriceInput,
    sku: sku().optional().openapi({ description: 'Assigned by the service when absent', example: 'ELEC-WL-MOUSE' }),
    description: textUpTo(MAX_DESCRIPTION).nullable().optional().openapi({ example: '2.4 GHz receiver, 1600 DPI' }),
    quantity: z
      .number()
      .int(QUANTITY_MESSAGES.whole)
      .min(QUANTITY_MIN, QUANTITY_MESSAGES.min)
      .max(QUANTITY_MAX, QUANTITY_MESSAGES.max)
      .optional()
      .openapi({ description: 'Units in stock, default 0', example: 85 }),
    category: name(MAX_CATEGORY_NAME)
      .optional()
      .openapi({
        maxLength: undefined,
        pattern: namePattern(MAX_CATEGORY_NAME),
        description: `Category name, matched case-insensitively; created when new. Default "${DEFAULT_CATEGORY}". ${nameDescription(MAX_CATEGORY_NAME)}`,
        example: 'Electronics',
      }),
  })
  .openapi('ProductCreate');

export const ProductListQuery = z.object({
  category: nameFilter(MAX_CATEGORY_NAME)
    .optional()
    .openapi({ description: 'Category name, case-insensitive (e.g. Electronics)' }),
  sku: text().max(SKU_MAX_LENGTH).optional().openapi({ description: 'Exact SKU, case-insensitive (e.g. ELEC-WL-MOUSE)' }),
  q: text()
    .refine((s) => codePoints(s) <= SEARCH_MAX_LENGTH, `must be at most ${SEARCH_MAX_LENGTH} characters`)
    .transform(normalizeSearchText)
    .superRefine((s, ctx) => {
      const problem = searchTextProblem(s);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional()
    .openapi({
      maxLength: SEARCH_MAX_LENGTH,
      description:
        'Search: products whose SKU contains the text, or whose name and description hold each of its words ' +
        '(or words starting with them, or, for a misspelled word, similar words), case and accents aside. ' +
        'Ordered by relevance: the exact SKU, SKUs starting with the text, then SKU and name matches, then ' +
        `description-only matches. At least ${SEARCH_MIN_RUN} letters or digits in a row, at most ${SEARCH_MAX_WORDS} words. ` +
        'Not with `sku`, `sku_prefix` or `sort`. Example: `wireless mouse`.',
    }),
  sku_prefix: z.string().regex(SKU_PREFIX_PATTERN, `must be the start of a SKU: ${SKU_MESSAGE}`).optional().openapi({
    description:
      'Products whose SKU starts with this, case-insensitively, in SKU order (e.g. ELEC-WL). Not with `sku`, `q` or `sort`.',
  }),
  sort: z.enum(SORTS).optional().openapi({
    default: 'name',
    description: 'Sort key; a leading "-" sorts descending. Ties are broken by id. Searches have their own order.',
  }),
  limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ description: 'Page size' }),
  cursor: z
    .string()
    .max(MAX_CURSOR_LENGTH)
    .optional()
    .openapi({ description: 'Opaque cursor from the previous page\'s Link rel="next"' }),
});

export const ProductPatchSchema = z
  .strictObject({
    name: ProductCreateSchema.shape.name.optional(),
    sku: sku().optional().openapi({ example: 'ELEC-WL-MOUSE-2' }),
    description: ProductCreateSchema.shape.description,
    price: PriceInput.optional(),
    category: ProductCreateSchema.shape.category,
    quantity: z
      .unknown()
      .refine(() => false, 'quantity changes only through POST /products/{id}/stock-adjustments')
      .optional()
      .openapi({
        readOnly: true,
        description: 'Not accepted: stock changes go through POST /products/{id}/stock-adjustments',
        example: 85,
      }),
  })
  .openapi('ProductPatch', { description: 'A JSON merge patch: fields present are changed, `description: null` clears it' });

/** Which of sku, q, sku_prefix and sort a listing may combine: one way of choosing products, one order. */
const EXCLUSIVE: [string, string][] = [
  ['q', 'sku'],
  ['q', 'sku_prefix'],
  ['sku_prefix', 'sku'],
  ['q', 'sort'],
  ['sku_prefix', 'sort'],
];

export const ProductListQueryWithArchive = ProductListQuery.extend({
  archived: z
    .enum(['true', 'false'])
    .default('false')
    .openapi({ description: 'true lists archived products instead of active ones' }),
}).superRefine((query, ctx) => {
  for (const [a, b] of EXCLUSIVE) {
    if (query[a as keyof typeof query] !== undefined && query[b as keyof typeof query] !== undefined) {
      ctx.addIssue({ code: 'custom', path: [a], message: `cannot be combined with ${b}` });
    }
  }
});
