import { createRouter } from '../http/router.ts';
import * as handlers from './handlers.ts';
import {
  createWebhookRoute,
  deleteWebhookRoute,
  getWebhookRoute,
  listDeliveriesRoute,
  listWebhooksRoute,
  replayWebhookRoute,
  rotateSecretRoute,
  updateWebhookRoute,
} from './routes.ts';

export { startDeliverer } from './deliverer.ts';

/** The webhook routes; `allowPrivate` is WEBHOOK_ALLOW_PRIVATE (the receivers' address rule). */
export const webhooksApi = (policy: handlers.ReceiverPolicy) =>
  createRouter()
    .openapi(listWebhooksRoute, handlers.list)
    .openapi(createWebhookRoute, handlers.create(policy))
    .openapi(listDeliveriesRoute, handlers.listDeliveries)
    .openapi(replayWebhookRoute, handlers.replay)
    .openapi(rotateSecretRoute, handlers.rotateSecret)
    .openapi(getWebhookRoute, handlers.get)
    .openapi(updateWebhookRoute, handlers.update(policy))
    .openapi(deleteWebhookRoute, handlers.remove);
