import { z } from '@hono/zod-openapi';

/**
 * An id as it may appear in a path: digits without a leading zero, within the
 * safe integer range. One id has one spelling, so `/products/045`,
 * `/products/45.0`, `/products/45e0` or `/products/0x2d` never name product 45
 * (422); an Idempotency-Key scoped to the path then protects the one product
 * whichever way a client writes the URL.
 */
export const ID_PATTERN = /^[1-9][0-9]*$/;
const ID_MESSAGE = `must be a positive whole number written in digits, without leading zeros, at most ${Number.MAX_SAFE_INTEGER}`;

/** The id a path segment names, or undefined when it is not an id's one spelling. */
export function parseId(text: string): number | undefined {
  if (!ID_PATTERN.test(text) || text.length > 16) return undefined;
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : undefined;
}

/** The message a path segment that is not an id is refused with (422 validation_failed). */
export const idError = (name: string) => ({ path: name, message: ID_MESSAGE });

/** An id path parameter `name`: digits without a leading zero, a safe integer (else 422). */
export const idPathSchema = (example: number, name = 'id', what = '') =>
  z
    .string()
    .refine((text) => parseId(text) !== undefined, ID_MESSAGE)
    .transform(Number)
    .openapi({
      param: { name, in: 'path' },
      type: 'integer',
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      pattern: ID_PATTERN.source,
      description: `${what}Written in digits without a leading zero (e.g. 42, not 042, 42.0 or 4.2e1)`,
      example,
    });

const idSchema = (example: number) => idPathSchema(example);

/** `{id}` of /products/{id}, /products/{id}/…, /categories/{id}. */
export const IdParam = z.object({ id: idSchema(42) });

export const IfMatchHeader = z.object({
  'if-match': z.string().max(200).optional().openapi({
    description:
      'The ETag the change is based on (e.g. "3-12", or the version alone, "3"); 412 when the product was written since',
  }),
});

export const IfNoneMatchHeader = z.object({
  'if-none-match': z.string().max(2000).optional().openapi({
    description:
      'ETags of representations you hold (the ETag of an earlier answer); when one is still current the answer is 304 with no body',
  }),
});

export const IdempotencyKeyHeader = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x20-\x7e]+$/, '1 to 255 printable ASCII characters')
    .optional()
    .openapi({
      description:
        'Makes the request safe to retry: a repeat with the same key and body replays the first response (e.g. order-1042-line-3)',
    }),
});
