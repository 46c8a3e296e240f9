import { createRoute, z } from '@hono/zod-openapi';
import { bodyErrors, errorResponses } from '../errors.ts';
import { IdempotencyKeyHeader, IdParam, IfMatchHeader, IfNoneMatchHeader } from '../http/params.ts';
import { KEY, KEY_FOR_READS, READ_FROM } from '../http/route-policy.ts';
import { ProductCreateSchema, ProductListQueryWithArchive, ProductPatchSchema, ProductSchema } from './schemas.ts';

const tags = ['Products'];

const ETagHeader = z.object({
  ETag: z.string().openapi({
    description:
      'The representation: "<version>-<available>", changed by every write of the product and by reservations; ' +
      'send it in If-Match to edit, or in If-None-Match to read it again only if it changed',
    example: '"3-12"',
  }),
});

/** A conditional GET whose If-None-Match names the current representation. */
const notModified = (headers: z.ZodObject) => ({
  description: 'Not modified: the representation named in If-None-Match is still current (no body)',
  headers,
});

const productResponse = (description: string) => ({
  description,
  headers: ETagHeader,
  content: { 'application/json': { schema: ProductSchema } },
});

export const createProductRoute = createRoute({
  method: 'post',
  path: '/products',
  operationId: 'createProduct',
  summary: 'Add a product',
  description:
    'Creates a product. Its category is matched case-insensitively and created when it does not exist yet. ' +
    'A quantity above 0 is recorded as an `initial` stock movement.',
  tags,
  security: KEY,
  request: {
    headers: IdempotencyKeyHeader,
    body: { required: true, content: { 'application/json': { schema: ProductCreateSchema } } },
  },
  responses: {
    201: {
      description: 'The product as stored',
      headers: ETagHeader.extend({ Location: z.string().openapi({ example: '/products/42' }) }),
      content: { 'application/json': { schema: ProductSchema } },
    },
    ...errorResponses([...bodyErrors, 'duplicate_sku', 'duplicate_name', 'request_in_progress', 'idempotency_key_reused']),
  },
});

const PageHeaders = z.object({
  Link: z.string().optional().openapi({ example: '</products?limit=50&cursor=WyJuYW1lIiwiYWJjIiw0Ml0>; rel="next"' }),
  ETag: z.string().openapi({
    description: 'The page (weak): send it in If-None-Match to read the page again only if it changed',
    example: 'W/"1x9kq2v0c7f3"',
  }),
});

export const listProductsRoute = createRoute({
  method: 'get',
  path: '/products',
  operationId: 'listProducts',
  summary: 'List products',
  description:
    'Products in keyset order, optionally within one category. When more rows follow, the `Link` header ' +
    'carries the next page (`rel="next"`); following it visits every product exactly once.',
  tags,
  security: KEY_FOR_READS,
  [READ_FROM]: 'standby',
  request: { query: ProductListQueryWithArchive, headers: IfNoneMatchHeader },
  responses: {
    200: {
      description: 'One page of products',
      headers: PageHeaders,
      content: { 'application/json': { schema: z.array(ProductSchema) } },
    },
    304: notModified(PageHeaders),
    ...errorResponses(['validation_failed']),
  },
});

export const getProductRoute = createRoute({
  method: 'get',
  path: '/products/{id}',
  operationId: 'getProduct',
  summary: 'Get a product',
  tags,
  security: KEY_FOR_READS,
  [READ_FROM]: 'standby',
  request: { params: IdParam, headers: IfNoneMatchHeader },
  responses: {
    200: productResponse('The product'),
    304: notModified(ETagHeader),
    ...errorResponses(['not_found', 'validation_failed']),
  },
});

export const updateProductRoute = createRoute({
  method: 'patch',
  path: '/products/{id}',
  operationId: 'updateProduct',
  summary: 'Edit a product',
  description:
    'Changes the fields present in the body (JSON merge patch). Send `If-Match` with the ETag you read ' +
    'so that a concurrent edit is refused (412) instead of overwritten. Quantity changes go through stock adjustments.',
  tags,
  security: KEY,
  request: {
    params: IdParam,
    headers: IfMatchHeader,
    body: {
      required: true,
      content: {
        'application/json': { schema: ProductPatchSchema },
        'application/merge-patch+json': { schema: ProductPatchSchema },
      },
    },
  },
  responses: {
    200: productResponse('The product as changed'),
    ...errorResponses([...bodyErrors, 'not_found', 'duplicate_sku', 'duplicate_name', 'precondition_failed']),
  },
});

export const archiveProductRoute = createRoute({
  method: 'delete',
  path: '/products/{id}',
  operationId: 'archiveProduct',
  summary: 'Archive a product',
  description:
    'Removes the product from listings and lookups and frees its name and SKU. Its stock history is kept, ' +
    'and `POST /products/{id}/restore` brings it back.',
  tags,
  security: KEY,
  request: { params: IdParam, headers: IfMatchHeader },
  responses: {
    204: { description: 'Archived' },
    ...errorResponses(['not_found', 'precondition_failed', 'validation_failed']),
  },
});

export const restoreProductRoute = createRoute({
  method: 'post',
  path: '/products/{id}/restore',
  operationId: 'restoreProduct',
  summary: 'Restore an archived product',
  tags,
  security: KEY,
  request: { params: IdParam, headers: IdempotencyKeyHeader },
  responses: {
    200: productResponse('The product, active again'),
    ...errorResponses([
      'not_found',
      'duplicate_sku',
      'duplicate_name',
      'validation_failed',
      'request_in_progress',
      'idempotency_key_reused',
    ]),
  },
});
