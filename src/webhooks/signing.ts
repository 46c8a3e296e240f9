/**
 * Webhook messages as the Standard Webhooks specification writes them
 * (https://www.standardwebhooks.com): the body, and the `webhook-id`,
 * `webhook-timestamp` and `webhook-signature` headers, signed with the
 * `standardwebhooks` package. A receiver verifies them with the same package
 * (or any implementation of the specification) and the subscription's secret.
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** A new signing secret: `whsec_` and the base64 of 32 random bytes, as Standard Webhooks libraries take it. */
export const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/** An event of the feed, as the deliverer reads it. */
export type FeedEvent = {
  id: number;
  position: number;
  type: string;
  product_id: number | null;
  data: unknown;
  occurred_at: string;
};

/** The message id of an event: the same for every attempt, replay and process, so a receiver can de-duplicate. */
export const messageId = (event: Pick<FeedEvent, 'id'>) => `evt_${event.id}`;

/**
 * The body: Standard Webhooks' envelope (`type`, `timestamp`, `data`), whose
 * `data` is the event as the feed shows it (its own data under `data.data`),
 * so that its id and position never clash with the fields of the event's data
 * (a product's data has an `id` of its own).
 */
export function messageBody(event: FeedEvent): string {
  return JSON.stringify({
    type: event.type,
    timestamp: event.occurred_at,
    data: {
      id: event.id,
      position: event.position,
      type: event.type,
      product_id: event.product_id,
      data: event.data,
      occurred_at: event.occurred_at,
    },
  });
}

/**
 * The headers of one attempt at `at`: one `v1` signature per secret (the
 * current one, then one rotated out less than a grace period ago), space
 * separated, as the specification allows during a rotation.
 */
export function signedHeaders(event: Pick<FeedEvent, 'id'>, body: string, secrets: readonly string[], at: Date) {
  const id = messageId(event);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(id, at, body)).join(' '),
  };
}
