import { createRoute, z } from '@hono/zod-openapi';
import { errorResponses } from '../errors.ts';
import { KEY_FOR_READS, READ_FROM } from '../http/route-policy.ts';
import { EventListQuery, EventSchema, EventStreamHeaders, EventStreamQuery } from './schemas.ts';

const tags = ['Events'];

/** The header that tells a consumer where to continue: the position to send as `after` next. */
export const LAST_POSITION_HEADER = 'Events-Last-Position';

const lastPositionHeader = z.string().openapi({
  description:
    "The position this answer accounts for: send it as `after` to continue. The last event's position when more " +
    'may follow (`Link` rel="next"); otherwise the end of the feed as it was read (never less than `after`), so ' +
    'that a filtered consumer skips the events it does not take, and an empty page still says where to poll from',
  pattern: '^(0|[1-9][0-9]*)$',
  example: '5118',
});

const EXAMPLE_EVENTS = [
  {
    id: 5120,
    position: 5118,
    type: 'stock.adjusted',
    product_id: 42,
    data: {
      product_id: 42,
      sku: 'HAMMER-01',
      location_id: 1,
      location_code: 'MAIN',
      on_hand: 0,
      reserved: 0,
      available: 0,
      available_before: 2,
      available_delta: -2,
      reorder_point: null,
      movement_id: 1201,
      delta: -2,
      reason: 'sold',
      note: null,
      reference: 'order-1042',
      transfer_id: null,
      reservation_id: null,
    },
    occurred_at: '2026-11-30T09:00:00.123456Z',
  },
  {
    id: 5121,
    position: 5119,
    type: 'stock.out_of_stock',
    product_id: 42,
    data: {
      product_id: 42,
      sku: 'HAMMER-01',
      location_id: 1,
      location_code: 'MAIN',
      on_hand: 0,
      reserved: 0,
      available: 0,
      available_before: 2,
      available_delta: -2,
      reorder_point: null,
      delta: -2,
      reason: 'sold',
      reference: 'order-1042',
      cause: 'stock.adjusted',
    },
    occurred_at: '2026-11-30T09:00:00.123456Z',
  },
];

export const listEventsRoute = createRoute({
  method: 'get',
  path: '/events',
  operationId: 'listEvents',
  summary: 'Read the event feed',
  description:
    'Every change of products, categories, stock and reservations, as events in the order their changes ' +
    'committed: the events after position `after`, oldest first, optionally of some types (`type`) and/or one ' +
    'product (`product`). An event enters the feed shortly after its change commits (the publisher runs every ' +
    '100 ms) and is kept for EVENT_RETENTION_DAYS (30 days). To follow the feed, poll with `after` set to the ' +
    '`Events-Last-Position` of the previous answer: no event is skipped or repeated, whatever commits meanwhile ' +
    'or in what order. `Link` rel="next" names the next page while more may follow. An event\'s `id` identifies it ' +
    '(de-duplicate on it); its `position` orders it. `GET /events/stream` delivers the same events as they come.',
  tags,
  security: KEY_FOR_READS,
  [READ_FROM]: 'standby',
  request: { query: EventListQuery },
  responses: {
    200: {
      description: 'One page of events, oldest first',
      headers: z.object({
        Link: z.string().optional().openapi({ example: '</events?after=5119&limit=2>; rel="next"' }),
        [LAST_POSITION_HEADER]: lastPositionHeader,
      }),
      content: {
        'application/json': {
          schema: z.array(EventSchema),
          examples: {
            page: { summary: 'A sale that emptied a level', value: EXAMPLE_EVENTS },
            caught_up: { summary: 'Nothing new after `after`: poll again later from Events-Last-Position', value: [] },
          },
        },
      },
    },
    ...errorResponses(['validation_failed']),
  },
});

const STREAM_EXAMPLE = [
  'retry: 1000',
  '',
  `id: 5118`,
  'event: stock.adjusted',
  `data: ${JSON.stringify(EXAMPLE_EVENTS[0])}`,
  '',
  `id: 5119`,
  'event: stock.out_of_stock',
  `data: ${JSON.stringify(EXAMPLE_EVENTS[1])}`,
  '',
  ': keep-alive',
  '',
  '',
].join('\n');

export const streamEventsRoute = createRoute({
  method: 'get',
  path: '/events/stream',
  operationId: 'streamEvents',
  summary: 'Follow the event feed live',
  description:
    'The feed of `GET /events` as Server-Sent Events (text/event-stream), each event as it is published: ' +
    '`id:` its position, `event:` its type, `data:` the event as JSON. It starts after the position in ' +
    '`Last-Event-ID` (an EventSource sends the last `id` it received when it reconnects, so it resumes without a ' +
    'gap or a repeat), else after `after`, else at the current end of the feed (only new events). `type` and ' +
    '`product` filter as in `GET /events`. A comment line is sent every 15 s while nothing happens, so that ' +
    'proxies keep the connection open. Each process serves at most EVENTS_STREAM_MAX streams (100); more are ' +
    'refused with 503 `too_many_streams`. When the service stops, streams end: reconnect with `Last-Event-ID`.',
  tags,
  security: KEY_FOR_READS,
  request: { query: EventStreamQuery, headers: EventStreamHeaders },
  responses: {
    200: {
      description: 'The stream: one message per event, until the client or the service closes it',
      content: {
        'text/event-stream': {
          schema: z.string().openapi({ description: 'Server-Sent Events', example: STREAM_EXAMPLE }),
        },
      },
    },
    ...errorResponses(['validation_failed', 'too_many_streams']),
  },
});
