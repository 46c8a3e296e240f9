import { createRoute, z } from '@hono/zod-openapi';
import { bodyErrors, errorResponses } from '../errors.ts';
import { IdempotencyKeyHeader, IdParam } from '../http/params.ts';
import { KEY } from '../http/route-policy.ts';
import {
  DeliveryListQuery,
  DeliverySchema,
  WebhookCreateSchema,
  WebhookListQuery,
  WebhookPatchSchema,
  WebhookReplaySchema,
  WebhookSchema,
  WebhookWithSecretSchema,
} from './schemas.ts';

// Subscriptions are configuration, not inventory: receiver URLs (which may carry a token) and delivery
// errors are read with a key too, whenever the service runs with API_KEYS (`security: KEY` on every route).
const tags = ['Webhooks'];

const webhookJson = (description: string) => ({
  description,
  content: { 'application/json': { schema: WebhookSchema } },
});

const pageHeaders = (example: string) =>
  z.object({ Link: z.string().optional().openapi({ description: 'The next page, when more rows follow', example }) });

const addressErrors = ['address_not_allowed', 'host_not_found'] as const;

export const createWebhookRoute = createRoute({
  method: 'post',
  path: '/webhooks',
  operationId: 'createWebhook',
  summary: 'Subscribe to events',
  description:
    'Adds a subscription: every event published from now on whose type is in `event_types` (every type when empty) ' +
    'is POSTed to `url`, at least once and in the order of the feed, signed per the Standard Webhooks specification ' +
    '(`webhook-id`, `webhook-timestamp`, `webhook-signature`). The answer holds the signing `secret`, shown this once. ' +
    'The URL is http or https, without user name or password; its host must resolve to public addresses only unless ' +
    'the service runs with WEBHOOK_ALLOW_PRIVATE=true. Send an `Idempotency-Key` to retry safely: a replayed answer ' +
    'shows the same secret again, to the client that sent the key.',
  tags,
  security: KEY,
  request: {
    headers: IdempotencyKeyHeader,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: WebhookCreateSchema,
          examples: {
            low_stock: {
              summary: 'Stock alerts to a reorder service',
              value: {
                url: 'https://hooks.example.net/inventory',
                event_types: ['stock.low_stock', 'stock.out_of_stock'],
                description: 'Reorder service',
              },
            },
            everything: { summary: 'Every event', value: { url: 'https://hooks.example.net/all' } },
          },
        },
      },
    },
  },
  responses: {
    201: {
      description: 'The subscription, with its secret (shown only here and after a rotation)',
      headers: z.object({ Location: z.string().openapi({ example: '/webhooks/7' }) }),
      content: { 'application/json': { schema: WebhookWithSecretSchema } },
    },
    ...errorResponses([...bodyErrors, ...addressErrors, 'request_in_progress', 'idempotency_key_reused']),
  },
});

export const listWebhooksRoute = createRoute({
  method: 'get',
  path: '/webhooks',
  operationId: 'listWebhooks',
  summary: 'List webhook subscriptions',
  description:
    'Subscriptions by id, without their secrets. When more rows follow, the `Link` header carries the next page ' +
    '(`rel="next"`).',
  tags,
  security: KEY,
  request: { query: WebhookListQuery },
  responses: {
    200: {
      description: 'One page of subscriptions',
      headers: pageHeaders('</webhooks?limit=50&cursor=WyJ3ZWJob29rcyIsNTBd>; rel="next"'),
      content: { 'application/json': { schema: z.array(WebhookSchema) } },
    },
    ...errorResponses(['validation_failed']),
  },
});

export const getWebhookRoute = createRoute({
  method: 'get',
  path: '/webhooks/{id}',
  operationId: 'getWebhook',
  summary: 'Get a webhook subscription',
  description:
    'A subscription, without its secret: whether it is enabled (and why not, when the service disabled it), the ' +
    'position it has delivered up to, and its failures in a row.',
  tags,
  security: KEY,
  request: { params: IdParam },
  responses: {
    200: webhookJson('The subscription'),
    ...errorResponses(['not_found', 'validation_failed']),
  },
});

export const updateWebhookRoute = createRoute({
  method: 'patch',
  path: '/webhooks/{id}',
  operationId: 'updateWebhook',
  summary: 'Edit a webhook subscription',
  description:
    'Changes the fields present in the body (JSON merge patch). `enabled: true` resumes deliveries at once, with ' +
    'its failures (and the reason the service disabled it) forgotten; so does a new `url`, which is checked as on ' +
    'creation. Deliveries continue from the same position.',
  tags,
  security: KEY,
  request: {
    params: IdParam,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: WebhookPatchSchema,
          examples: {
            enable: { summary: 'Resume a disabled subscription', value: { enabled: true } },
            types: { summary: 'Deliver only stock alerts', value: { event_types: ['stock.low_stock'] } },
          },
        },
        'application/merge-patch+json': { schema: WebhookPatchSchema },
      },
    },
  },
  responses: {
    200: webhookJson('The subscription as changed'),
    ...errorResponses([...bodyErrors, 'not_found', ...addressErrors]),
  },
});

export const deleteWebhookRoute = createRoute({
  method: 'delete',
  path: '/webhooks/{id}',
  operationId: 'deleteWebhook',
  summary: 'Delete a webhook subscription',
  description: 'Deletes the subscription and its delivery history. A request in flight to its receiver may still arrive.',
  tags,
  security: KEY,
  request: { params: IdParam },
  responses: {
    204: { description: 'Deleted' },
    ...errorResponses(['not_found', 'validation_failed']),
  },
});

export const rotateSecretRoute = createRoute({
  method: 'post',
  path: '/webhooks/{id}/rotate-secret',
  operationId: 'rotateWebhookSecret',
  summary: 'Rotate the signing secret',
  description:
    'Gives the subscription a new signing secret, shown in this answer only. For 24 hours (until ' +
    '`previous_secret_expires_at`) deliveries carry two signatures, by the new and the previous secret, so a ' +
    'receiver can switch at its own pace. A secret rotated out earlier stops signing at once.',
  tags,
  security: KEY,
  request: { params: IdParam, headers: IdempotencyKeyHeader },
  responses: {
    200: {
      description: 'The subscription with its new secret',
      content: { 'application/json': { schema: WebhookWithSecretSchema } },
    },
    ...errorResponses(['not_found', 'validation_failed', 'request_in_progress', 'idempotency_key_reused']),
  },
});

export const listDeliveriesRoute = createRoute({
  method: 'get',
  path: '/webhooks/{id}/deliveries',
  operationId: 'listWebhookDeliveries',
  summary: "List a subscription's delivery attempts",
  description:
    'Every attempt, newest first: the event, the attempt number, the status code (null when no answer came), the ' +
    'error, and the latency. Kept as long as the events are. More pages follow through the `Link` header ' +
    '(`rel="next"`).',
  tags,
  security: KEY,
  request: { params: IdParam, query: DeliveryListQuery },
  responses: {
    200: {
      description: 'One page of attempts',
      headers: pageHeaders('</webhooks/7/deliveries?cursor=WyJkZWxpdmVyaWVzIiw1MTIwXQ>; rel="next"'),
      content: { 'application/json': { schema: z.array(DeliverySchema) } },
    },
    ...errorResponses(['not_found', 'validation_failed']),
  },
});

export const replayWebhookRoute = createRoute({
  method: 'post',
  path: '/webhooks/{id}/replay',
  operationId: 'replayWebhook',
  summary: 'Deliver events again',
  description:
    'Moves the subscription back (or forward) to `after`: the events published after that position are delivered ' +
    'again, in order, starting at once, with its failures forgotten (a disabled subscription waits until it is ' +
    'enabled). `after` is at most the last published position (422 otherwise); events already pruned are not ' +
    'delivered. A replayed message has the same `webhook-id` as the first time. Send an `Idempotency-Key` to ' +
    'retry safely.',
  tags,
  security: KEY,
  request: {
    params: IdParam,
    headers: IdempotencyKeyHeader,
    body: {
      required: true,
      content: {
        'application/json': {
          schema: WebhookReplaySchema,
          examples: { after: { summary: 'Everything after position 1000', value: { after: 1000 } } },
        },
      },
    },
  },
  responses: {
    200: webhookJson('The subscription, at its new position'),
    ...errorResponses([...bodyErrors, 'not_found', 'request_in_progress', 'idempotency_key_reused']),
  },
});
