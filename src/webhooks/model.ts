/** What a webhook subscription is, apart from HTTP. */

/**
 * The event types a subscription may name: those the triggers of
 * db/migrations/20261130000020_events.sql write, and the import's
 * import.completed (src/import/queries.ts). Kept here until the events feed's
 * own list (src/events/model.ts) exists; then this one should be it.
 */
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

/** The longest receiver URL, in characters (webhooks_url_format). */
export const MAX_URL_LENGTH = 2000;
/** The longest description, in code points (webhooks_description_length). */
export const MAX_DESCRIPTION = 500;
/** How long a rotated-out secret keeps signing beside the new one. */
export const SECRET_GRACE_S = 24 * 60 * 60;
