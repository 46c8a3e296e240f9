/** What a webhook subscription is, apart from HTTP. */

/** The event types a subscription may name: the feed's. */
export { EVENT_TYPES, type EventType } from '../events/model.ts';

/** The longest receiver URL, in characters (webhooks_url_format). */
export const MAX_URL_LENGTH = 2000;
/** The longest description, in code points (webhooks_description_length). */
export const MAX_DESCRIPTION = 500;
/** How long a rotated-out secret keeps signing beside the new one. */
export const SECRET_GRACE_S = 24 * 60 * 60;
