/**
 * What an event is, apart from HTTP: the types the database's triggers write
 * (db/migrations/20261130000020_events.sql) and the import writes
 * (src/import/queries.ts), which tests/events/model.test.ts holds equal to
 * this list, and a feed position.
 */

/** Every event type, grouped by what changed. */
export const EVENT_TYPES = [
  'product.created',
  'product.updated',
  'product.archived',
  'product.restored',
  'category.created',
  'category.deleted',
  'stock.adjusted',
  'stock.transferred',
  'stock.fulfilled',
  'stock.reserved',
  'stock.released',
  'stock.expired',
  'stock.out_of_stock',
  'stock.back_in_stock',
  'stock.low_stock',
  'import.completed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

const KNOWN = new Set<string>(EVENT_TYPES);
export const isEventType = (text: string): text is EventType => KNOWN.has(text);

/** How an unknown type is refused: the message names it and every known one. */
export const unknownTypeMessage = (type: string) =>
  `unknown event type ${JSON.stringify(type)}; the types are ${EVENT_TYPES.join(', ')}`;

/** A position as a client writes it: 0 (before the first event) or a whole number without leading zeros. */
export const POSITION_PATTERN = /^(0|[1-9][0-9]{0,15})$/;
export const POSITION_MESSAGE = `must be 0 or a positive whole number written in digits, without leading zeros, at most ${Number.MAX_SAFE_INTEGER}`;

/** The position `text` names, or undefined when it is not one. */
export function parsePosition(text: string): number | undefined {
  if (!POSITION_PATTERN.test(text)) return undefined;
  const position = Number(text);
  return Number.isSafeInteger(position) ? position : undefined;
}

/** An event as the feed and the stream show it. */
export type FeedEvent = {
  id: number;
  position: number;
  type: EventType;
  /** The product it concerns; null for categories and imports. */
  product_id: number | null;
  data: Record<string, unknown>;
  occurred_at: string;
};

/** The most events one page of the feed holds. */
export const FEED_MAX_LIMIT = 1000;
