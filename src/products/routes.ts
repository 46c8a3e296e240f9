import { createRoute, z } from '@hono/zod-openapi';
import { bodyErrors, errorResponses } from '../errors.ts';
import { ProductCreateSchema, ProductIdParam, ProductListQuery, ProductSchema } from './schemas.ts';

const tags = ['Products'];

export const createProductRoute = createRoute({
  method: 'post',
  path: '/products',
  operationId: 'createProduct',
  summary: 'Add a product',
  description: 'Creates a product. Its category is matched case-insensitively and created when it does not exist yet.',
  tags,
  request: {
    body: { required: true, content: { 'application/json': { schema: ProductCreateSchema } } },
  },
  responses: {
    201: {
      description: 'The product as stored',
      headers: z.object({ Location: z.string().openapi({ example: '/products/42' }) }),
      content: { 'application/json': { schema: ProductSchema } },
    },
    ...errorResponses([...bodyErrors, 409], {
      409: 'The SKU (`duplicate_sku`) or the name (`duplicate_name`) is already taken',
    }),
  },
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
  request: { query: ProductListQuery },
  responses: {
    200: {
      description: 'One page of products',
      headers: z.object({
        Link: z.string().optional().openapi({ example: '</products?limit=50&cursor=WyJuYW1lIiwiYWJjIiw0Ml0>; rel="next"' }),
      }),
      content: { 'application/json': { schema: z.array(ProductSchema) } },
    },
    ...errorResponses([422]),
  },
});

export const getProductRoute = createRoute({
  method: 'get',
  path: '/products/{id}',
  operationId: 'getProduct',
  summary: 'Get a product',
  tags,
  request: { params: ProductIdParam },
  responses: {
    200: { description: 'The product', content: { 'application/json': { schema: ProductSchema } } },
    ...errorResponses([404, 422]),
  },
});
