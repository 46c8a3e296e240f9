import { z } from '@hono/zod-openapi';
import { textUpTo } from '../http/text.ts';
import { RECEIVER_URL_PATTERN, receiverUrl } from './address.ts';
import { EVENT_TYPES, MAX_DESCRIPTION, MAX_URL_LENGTH } from './model.ts';

const timestamp = (description: string, example: string | null = '2026-11-30T09:12:45.123456Z') =>
  z.string().openapi({ format: 'date-time', description, example });

export const WebhookSchema = z
  .object({
    id: z.number().int().openapi({ example: 7 }),
    url: z.string().openapi({ description: 'Where events are POSTed', example: 'https://hooks.example.net/inventory' }),
    event_types: z.array(z.string().openapi({ example: 'stock.low_stock' })).openapi({
      description: 'The event types delivered; empty: every type',
      example: ['stock.low_stock', 'stock.out_of_stock'],
    }),
    description: z.string().nullable().openapi({ example: 'Reorder service' }),
    enabled: z.boolean().openapi({
      description: 'Whether events are delivered. The service disables a subscription that failed for 24 hours.',
      example: true,
    }),
    disabled_reason: z.string().nullable().openapi({
      description: 'Why the service disabled it; null otherwise',
      example: null,
    }),
    position: z.number().int().openapi({
      description: 'The position of the last event delivered (or passed over by `event_types`); the next one is after it',
      example: 1042,
    }),
    failures: z.number().int().openapi({ description: 'Failed attempts in a row', example: 0 }),
    failing_since: timestamp('When the current run of failures began; null while delivering', null).nullable(),
    last_error: z.string().nullable().openapi({
      description: "The last failed attempt's error: `status 500`, `timeout`, `connection refused`, `address not allowed`...",
      example: null,
    }),
    next_attempt_at: timestamp('When a failing subscription is retried; null otherwise', null).nullable(),
    previous_secret_expires_at: timestamp(
      'Until when the secret rotated out last still signs beside the current one; null when none does',
      null,
    ).nullable(),
    created_at: timestamp('When it was created'),
    updated_at: timestamp('When it was last changed through the API'),
  })
  .openapi('Webhook', { description: 'A webhook subscription (never with its secret)' });

export const WebhookWithSecretSchema = z
  .object({
    ...WebhookSchema.shape,
    secret: z.string().openapi({
      description:
        'The signing secret (Standard Webhooks: `whsec_` and base64). Shown only in this response: keep it; ' +
        'rotate it if it is lost.',
      example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw3Ul3ePeI7F0=',
    }),
  })
  .openapi('WebhookWithSecret', { description: 'A webhook subscription with its new signing secret' });

const url = () =>
  z
    .string()
    .max(MAX_URL_LENGTH, `must be at most ${MAX_URL_LENGTH} characters`)
    .transform((text, ctx) => {
      const checked = receiverUrl(text);
      if ('problem' in checked) {
        ctx.addIssue({ code: 'custom', message: checked.problem });
        return z.NEVER;
      }
      return checked.url;
    })
    .openapi({
      type: 'string',
      format: 'uri',
      maxLength: MAX_URL_LENGTH,
      pattern: RECEIVER_URL_PATTERN.source,
      description:
        'An http or https URL without a user name or password. Unless the service runs with ' +
        'WEBHOOK_ALLOW_PRIVATE=true, its host must resolve to public addresses only (422 `address_not_allowed` ' +
        'for loopback, private, link-local, metadata and other special addresses).',
      example: 'https://hooks.example.net/inventory',
    });

const eventTypes = () =>
  z
    .array(z.enum(EVENT_TYPES, { message: `must be one of ${EVENT_TYPES.join(', ')}` }).openapi({ example: 'stock.low_stock' }))
    .max(EVENT_TYPES.length, `must list at most ${EVENT_TYPES.length} types`)
    .transform((types) => [...new Set(types)])
    .openapi({
      description: 'The event types to deliver; empty or absent: every type',
      example: ['stock.low_stock', 'stock.out_of_stock'],
    });

const description = () => textUpTo(MAX_DESCRIPTION).nullable().openapi({ example: 'Reorder service' });

export const WebhookCreateSchema = z
  .strictObject({
    url: url(),
    event_types: eventTypes().optional(),
    description: description().optional(),
    enabled: z.boolean().optional().openapi({ description: 'true when absent', example: true }),
  })
  .openapi('WebhookCreate');

export const WebhookPatchSchema = z
  .strictObject({
    url: url().optional(),
    event_types: eventTypes()
      .nullable()
      .optional()
      .openapi({ description: 'The event types to deliver; empty or null: every type', example: ['stock.low_stock'] }),
    description: description().optional(),
    enabled: z.boolean().optional().openapi({
      description: 'false stops deliveries; true resumes them at once, its failures forgotten',
      example: true,
    }),
  })
  .openapi('WebhookPatch', {
    description: 'A JSON merge patch: the fields present are changed. A new `url` also forgets the failures.',
  });

export const WebhookReplaySchema = z
  .strictObject({
    after: z.number().int('must be a whole number').min(0, 'must be at least 0').max(Number.MAX_SAFE_INTEGER).openapi({
      description: 'The position to deliver after: 0 for every event kept; at most the last published position',
      example: 1000,
    }),
  })
  .openapi('WebhookReplay');

export const DeliverySchema = z
  .object({
    id: z.number().int().openapi({ example: 5120 }),
    webhook_id: z.number().int().openapi({ example: 7 }),
    event_id: z.number().int().openapi({ description: "The event's id (its `webhook-id` is `evt_<event_id>`)", example: 88311 }),
    event_position: z.number().int().openapi({ example: 1043 }),
    attempt: z.number().int().openapi({
      description: 'Which attempt at this event this was, since the last success or replay',
      example: 2,
    }),
    status_code: z.number().int().nullable().openapi({ description: "The receiver's status; null when none came", example: 500 }),
    error: z.string().nullable().openapi({
      description:
        'Why it failed (`status 500`, `timeout`, `connection refused`, `address not allowed`...); null when it succeeded',
      example: 'status 500',
    }),
    latency_ms: z.number().int().openapi({ description: 'From the address check to the answer (or the failure)', example: 87 }),
    ok: z.boolean().openapi({ description: 'Whether the receiver answered 2xx', example: false }),
    attempted_at: timestamp('When the attempt was recorded'),
  })
  .openapi('WebhookDelivery', { description: 'One attempt at delivering one event' });

const limit = z.coerce.number().int().min(1).max(1000).default(100).openapi({ description: 'Page size' });
const cursor = z.string().max(200).optional().openapi({ description: 'Opaque cursor from the previous page\'s Link rel="next"' });

export const WebhookListQuery = z.object({ limit, cursor });
export const DeliveryListQuery = z.object({ limit, cursor });
