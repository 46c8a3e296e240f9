import type { RouteHandler } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../http/context.ts';
import { describe } from './listener.ts';
import { feedEnd, readFeed } from './queries.ts';
import { LAST_POSITION_HEADER, type listEventsRoute, type streamEventsRoute } from './routes.ts';

/** Same path and query, continuing after `position`: the target of a Link rel="next". */
function nextPage(url: string, position: number): string {
  const u = new URL(url);
  u.searchParams.set('after', String(position));
  return `<${u.pathname}${u.search}>; rel="next"`;
}

export const list: RouteHandler<typeof listEventsRoute, AppEnv> = async (c) => {
  const { after = 0, type, product, limit } = c.req.valid('query');
  const page = await readFeed(c.var.sql, { after, types: type, product, limit });
  // Full page: go on after its last event. Otherwise: nothing more up to the feed's end.
  const last = page.more ? page.events.at(-1)!.position : Math.max(after, page.end);
  if (page.more) c.header('Link', nextPage(c.req.url, last));
  c.header(LAST_POSITION_HEADER, String(last));
  return c.json(page.events, 200);
};

/** How long an EventSource waits before it reconnects, sent as the stream's first line. */
const RECONNECT_MS = 1000;

export const stream: RouteHandler<typeof streamEventsRoute, AppEnv> = async (c) => {
  const { after, type, product } = c.req.valid('query');
  const { 'last-event-id': lastEventId } = c.req.valid('header');
  // A HEAD request gets the stream's head and no stream: nobody would read it.
  if (c.req.method === 'HEAD') return c.body(null, 200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const slot = c.var.eventStreams.open();
  if (!slot) {
    throw new ApiError('too_many_streams', 'this process serves as many event streams as it may; retry shortly', undefined, {
      'retry-after': '1',
    });
  }
  let start: number;
  try {
    start = lastEventId ?? after ?? (await feedEnd(c.var.sql));
  } catch (error) {
    slot.release();
    throw error;
  }
  const logger = c.var.logger;
  // Bun.serve (passed as the env) would cut a response that sends nothing for its idle timeout (10 s), shorter
  // than the heartbeat: a stream has none. It ends when the client leaves, a write fails, or the service stops.
  (c.env as { timeout?: (request: Request, seconds: number) => void } | undefined)?.timeout?.(c.req.raw, 0);
  // Tells nginx not to buffer the stream.
  c.header('X-Accel-Buffering', 'no');
  return streamSSE(c, async (sse) => {
    sse.onAbort(slot.end);
    try {
      await sse.write(`retry: ${RECONNECT_MS}\n\n`);
      await slot.follow(
        { after: start, types: type, product },
        {
          event: (event) => sse.writeSSE({ id: String(event.position), event: event.type, data: JSON.stringify(event) }),
          comment: async (text) => {
            await sse.write(`: ${text}\n\n`);
          },
          abort: () => sse.abort(),
        },
      );
    } catch (error) {
      logger.error('events: a stream failed', { error: describe(error) });
    } finally {
      slot.release();
    }
  });
};
