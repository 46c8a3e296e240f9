import type { RouteHandler } from '@hono/zod-openapi';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { decodeCursor, encodeCursor, invalidCursor, isRowId, nextLink } from '../http/cursor.ts';
import { type Lookup, resolveReceiver } from './address.ts';
import {
  deleteWebhook,
  findWebhook,
  insertWebhook,
  listDeliveries as readDeliveries,
  listWebhooks,
  replayWebhook,
  rotateSecret as writeSecret,
  updateWebhook,
} from './queries.ts';
import type {
  createWebhookRoute,
  deleteWebhookRoute,
  getWebhookRoute,
  listDeliveriesRoute,
  listWebhooksRoute,
  replayWebhookRoute,
  rotateSecretRoute,
  updateWebhookRoute,
} from './routes.ts';
import { newSecret } from './signing.ts';

/** Where receivers may be: from WEBHOOK_ALLOW_PRIVATE (and, in tests, a resolver of their own). */
export type ReceiverPolicy = { allowPrivate: boolean; lookup?: Lookup };

/** The longest a receiver's address lookup may hold a request. */
const LOOKUP_TIMEOUT_MS = 5000;

const noWebhook = (id: number) => new ApiError('not_found', `no webhook with id ${id}`);

/** Refuses (422) a receiver URL whose host does not resolve, or resolves to an address receivers may not have. */
async function checkReceiver(url: string, policy: ReceiverPolicy): Promise<void> {
  const destination = await resolveReceiver(new URL(url), { ...policy, timeoutMs: LOOKUP_TIMEOUT_MS });
  if (destination.ok) return;
  if (destination.refusal === 'not_allowed') {
    throw new ApiError(
      'address_not_allowed',
      `the URL must reach a public address: ${destination.detail} (allowed only with WEBHOOK_ALLOW_PRIVATE=true)`,
    );
  }
  throw new ApiError('host_not_found', `the URL must name a host that resolves: ${destination.detail}`);
}

/** The id a listing's cursor ends at: a cursor made for `label`, else 422. */
function cursorId(cursor: string | undefined, label: string): number | undefined {
  if (cursor === undefined) return undefined;
  const [last] = decodeCursor(cursor, label) ?? [];
  if (!isRowId(last)) throw invalidCursor('not a cursor returned by this listing');
  return last;
}

export const create =
  (policy: ReceiverPolicy): RouteHandler<typeof createWebhookRoute, AppEnv> =>
  async (c) => {
    const body = c.req.valid('json');
    await checkReceiver(body.url, policy);
    const row = await insertWebhook(c.var.sql, {
      url: body.url,
      eventTypes: body.event_types ?? [],
      description: body.description ?? null,
      enabled: body.enabled ?? true,
      secret: newSecret(),
    });
    c.header('Location', `/webhooks/${row.id}`);
    return c.json(row, 201);
  };

export const list: RouteHandler<typeof listWebhooksRoute, AppEnv> = async (c) => {
  const q = c.req.valid('query');
  const rows = await listWebhooks(c.var.sql, { limit: q.limit, after: cursorId(q.cursor, 'webhooks') });
  const page = rows.slice(0, q.limit);
  if (rows.length > q.limit) c.header('Link', nextLink(c.req.url, encodeCursor('webhooks', [page[page.length - 1]!.id])));
  return c.json(page, 200);
};

export const get: RouteHandler<typeof getWebhookRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const row = await findWebhook(c.var.sql, id);
  if (!row) throw noWebhook(id);
  return c.json(row, 200);
};

export const update =
  (policy: ReceiverPolicy): RouteHandler<typeof updateWebhookRoute, AppEnv> =>
  async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    if (body.url !== undefined) await checkReceiver(body.url, policy);
    const row = await updateWebhook(c.var.sql, id, {
      url: body.url,
      eventTypes: body.event_types === null ? [] : body.event_types,
      description: body.description,
      enabled: body.enabled,
    });
    if (!row) throw noWebhook(id);
    return c.json(row, 200);
  };

export const remove: RouteHandler<typeof deleteWebhookRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  if (!(await deleteWebhook(c.var.sql, id))) throw noWebhook(id);
  return c.body(null, 204);
};

export const rotateSecret: RouteHandler<typeof rotateSecretRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const row = await writeSecret(c.var.sql, id, newSecret());
  if (!row) throw noWebhook(id);
  return c.json(row, 200);
};

export const listDeliveries: RouteHandler<typeof listDeliveriesRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const q = c.req.valid('query');
  const rows = await readDeliveries(c.var.sql, id, { limit: q.limit, before: cursorId(q.cursor, 'deliveries') });
  if (!rows) throw noWebhook(id);
  const page = rows.slice(0, q.limit);
  if (rows.length > q.limit) c.header('Link', nextLink(c.req.url, encodeCursor('deliveries', [page[page.length - 1]!.id])));
  return c.json(page, 200);
};

export const replay: RouteHandler<typeof replayWebhookRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param');
  const { after } = c.req.valid('json');
  const result = await replayWebhook(c.var.sql, id, after);
  if ('missing' in result) throw noWebhook(id);
  if ('last' in result) {
    throw new ApiError('validation_failed', 'the request body has 1 invalid field', [
      { path: 'after', message: `must be at most the last published position, ${result.last}` },
    ]);
  }
  return c.json(result.row, 200);
};
