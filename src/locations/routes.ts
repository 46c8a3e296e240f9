import { createRoute, z } from '@hono/zod-openapi';
import { bodyErrors, errorResponses } from '../errors.ts';
import { IdempotencyKeyHeader, IdParam } from '../http/params.ts';
import { KEY, KEY_FOR_READS, READ_FROM } from '../http/route-policy.ts';
import {
  LevelParams,
  LevelPatchSchema,
  LocationCreateSchema,
  LocationLevelsQuery,
  LocationListQuery,
  LocationPatchSchema,
  LocationSchema,
  LocationStockLevelSchema,
  StockLevelSchema,
} from './schemas.ts';

const tags = ['Locations'];

const pageHeaders = (example: string) =>
  z.object({ Link: z.string().optional().openapi({ description: 'The next page, when more rows follow', example }) });

const mergePatchBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema }, 'application/merge-patch+json': { schema } },
});

export const listLocationsRoute = createRoute({
  method: 'get',
  path: '/locations',
  operationId: 'listLocations',
  summary: 'List locations',
  description:
    'Active locations by id, or archived ones with `archived=true`. When more rows follow, the `Link` header ' +
    'carries the next page (`rel="next"`); following it visits every location exactly once.',
  tags,
  security: KEY_FOR_READS,
  [READ_FROM]: 'standby',
  request: { query: LocationListQuery },
  responses: {
    200: {
      description: 'One page of locations',
      headers: pageHeaders('</locations?limit=50&cursor=WyJsb2NhdGlvbnMiLDUwXQ>; rel="next"'),
      content: { 'application/json': { schema: z.array(LocationSchema) } },
    },
    ...errorResponses(['validation_failed']),
  },
});

export const createLocationRoute = createRoute({
  method: 'post',
  path: '/locations',
  operationId: 'createLocation',
  summary: 'Add a location',
  description:
    'Adds a place where stock is kept. Its code is unique case-insensitively, archived locations included (409 ' +
    '`duplicate_location`). Send an `Idempotency-Key` to retry safely.',
  tags,
  security: KEY,
  request: {
    headers: IdempotencyKeyHeader,
    body: { required: true, content: { 'application/json': { schema: LocationCreateSchema } } },
  },
  responses: {
    201: {
      description: 'The location as stored',
      headers: z.object({ Location: z.string().openapi({ example: '/locations/3' }) }),
      content: { 'application/json': { schema: LocationSchema } },
    },
    ...errorResponses([...bodyErrors, 'duplicate_location', 'request_in_progress', 'idempotency_key_reused']),
  },
});

export const getLocationRoute = createRoute({
  method: 'get',
  path: '/locations/{id}',
  operationId: 'getLocation',
  summary: 'Get a location',
  description: 'A location, active or archived (`archived_at` tells): stock movements keep naming archived ones.',
  tags,
  security: KEY_FOR_READS,
  [READ_FROM]: 'standby',
  request: { params: IdParam },
  responses: {
    200: { description: 'The location', content: { 'application/json': { schema: LocationSchema } } },
    ...errorResponses(['not_found', 'validation_failed']),
  },
});

export const updateLocationRoute = createRoute({
  method: 'patch',
  path: '/locations/{id}',
  operationId: 'updateLocation',
  summary: 'Edit a location',
  description:
    'Changes the fields present in the body (JSON merge patch) of an active location. A code another location ' +
    'has, in any case, is refused (409 `duplicate_location`).',
  tags,
  security: KEY,
  request: { params: IdParam, body: mergePatchBody(LocationPatchSchema) },
  responses: {
    200: { description: 'The location as changed', content: { 'application/json': { schema: LocationSchema } } },
    ...errorResponses([...bodyErrors, 'not_found', 'duplicate_location']),
  },
});

export const archiveLocationRoute = createRoute({
  method: 'delete',
  path: '/locations/{id}',
  operationId: 'archiveLocation',
  summary: 'Archive a location',
  description:
    'Archives an active location: it takes no more stock and is listed with `archived=true`; its code stays taken. ' +
    'Refused (409 `location_in_use`) while it holds stock or open reservations, and for the default location. ' +
    'A stock change racing the archive either lands first (and the archive is refused) or finds the location archived (404).',
  tags,
  security: KEY,
  request: { params: IdParam },
  responses: {
    204: { description: 'Archived' },
    ...errorResponses(['not_found', 'location_in_use', 'validation_failed']),
  },
});

export const listProductLevelsRoute = createRoute({
  method: 'get',
  path: '/products/{id}/levels',
  operationId: 'listProductLevels',
  summary: "List a product's stock levels",
  description:
    "The product's stock at each active location where it has a level, by location id: on hand, reserved (open " +
    'reservations not yet expired), available (on hand less reserved, never below 0) and the reorder point. ' +
    "An archived product's levels are shown too.",
  tags,
  security: KEY_FOR_READS,
  [READ_FROM]: 'standby',
  request: { params: IdParam },
  responses: {
    200: { description: 'Every level of the product', content: { 'application/json': { schema: z.array(StockLevelSchema) } } },
    ...errorResponses(['not_found', 'validation_failed']),
  },
});

export const listLocationLevelsRoute = createRoute({
  method: 'get',
  path: '/locations/{id}/levels',
  operationId: 'listLocationLevels',
  summary: 'List the stock levels at a location',
  description:
    "The levels of active products at the location, by product id, each with the product's SKU and name; with " +
    '`below_reorder_point=true` only those whose available stock is below their reorder point. When more rows ' +
    'follow, the `Link` header carries the next page (`rel="next"`); following it visits every level exactly once.',
  tags,
  security: KEY_FOR_READS,
  [READ_FROM]: 'standby',
  request: { params: IdParam, query: LocationLevelsQuery },
  responses: {
    200: {
      description: 'One page of levels',
      headers: pageHeaders('</locations/3/levels?limit=50&cursor=WyJsZXZlbHMiLDQyXQ>; rel="next"'),
      content: { 'application/json': { schema: z.array(LocationStockLevelSchema) } },
    },
    ...errorResponses(['not_found', 'validation_failed']),
  },
});

export const setReorderPointRoute = createRoute({
  method: 'patch',
  path: '/products/{id}/levels/{location_id}',
  operationId: 'setReorderPoint',
  summary: 'Set a reorder point',
  description:
    'Sets (or, with null, removes) the reorder point of an active product at an active location, creating the level ' +
    '(nothing on hand) when there is none. Stock itself changes only through stock adjustments.',
  tags,
  security: KEY,
  request: { params: LevelParams, body: mergePatchBody(LevelPatchSchema) },
  responses: {
    200: { description: 'The level as changed', content: { 'application/json': { schema: StockLevelSchema } } },
    ...errorResponses([...bodyErrors, 'not_found']),
  },
});
