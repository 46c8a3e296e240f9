import type { Pool } from '../db.ts';
import type { Logger } from '../logger.ts';
import { createListener, describe } from './listener.ts';
import type { EventType, FeedEvent } from './model.ts';
import { readFeed, type FeedPage } from './queries.ts';

/** A comment line goes out after this long without a message, so that proxies keep the connection. */
export const HEARTBEAT_MS = 15_000;
/** The most events one read of a stream takes. */
const STREAM_BATCH = 1000;
/** How long a stopping service lets a stream finish its write before cutting it. */
const CLOSE_GRACE_MS = 1000;

/** Where a stream writes: its events, and comments. Each resolves once the write is taken (or the client left). */
export type StreamSink = {
  event: (event: FeedEvent) => Promise<void>;
  comment: (text: string) => Promise<void>;
  /** Ends the stream at once, whatever it is writing (the service is stopping and the client does not read). */
  abort: () => void;
};

export type StreamFilter = { after: number; types?: EventType[]; product?: number };

/** A stream's place among the process's streams, taken before it starts and given back when it ends. */
export type StreamSlot = {
  /** Follows the feed from `filter.after` into `sink` until the client leaves or the service stops. */
  follow: (filter: StreamFilter, sink: StreamSink) => Promise<void>;
  /** The client left: the stream ends at its next step. */
  end: () => void;
  /** Gives the slot back without streaming (the stream could not start). */
  release: () => void;
};

export type EventStreams = {
  /** A slot for one more stream; undefined when EVENTS_STREAM_MAX are open or the service is stopping. */
  open: () => StreamSlot | undefined;
  /** Streams open now. */
  count: () => number;
  /** Ends every stream (each within about a second) and stops listening; later opens are refused. */
  close: () => Promise<void>;
};

export type StreamOptions = {
  /** The most streams open at once. */
  max: number;
  /** The longest a caught-up stream waits before reading the feed again without a notification. */
  pollMs: number;
  /** Whether notifications wake streams (LISTEN on a connection of its own). */
  listen: boolean;
  /** Runs a read holding a connection slot of the pool gate, so that streams share the pool with requests. */
  gate: <T>(fn: () => Promise<T>) => Promise<T>;
  heartbeatMs?: number;
};

/**
 * The event streams of one process (one app): at most `max` at once, each
 * following the feed by reading it (readFeed, as GET /events does) through
 * the pool gate, one read at a time, holding no connection in between. A
 * caught-up stream waits for a notification of the publisher (one LISTEN for
 * all of them), at most `pollMs`.
 */
export function createEventStreams(sql: Pool, logger: Logger, options: StreamOptions): EventStreams {
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  const listener = options.listen ? createListener(sql, logger) : undefined;
  const open = new Set<{ stop: () => void; abort: () => void; done: Promise<void> }>();
  let closing = false;

  return {
    count: () => open.size,
    open() {
      if (closing || open.size >= options.max) return undefined;
      let stopped = false;
      /** A notification came since the last read began: read again before waiting. */
      let notified = false;
      let wake = () => {};
      let sink: StreamSink | undefined;
      let finished!: () => void;
      const entry = {
        done: new Promise<void>((resolve) => {
          finished = resolve;
        }),
        stop: () => {
          stopped = true;
          wake();
        },
        abort: () => sink?.abort(),
      };
      open.add(entry);
      const release = () => {
        if (open.delete(entry)) finished();
      };

      /** Resolves after `ms`, at a notification, or when the stream is stopped. */
      const pause = (ms: number) =>
        new Promise<void>((resolve) => {
          if (stopped || notified) return resolve();
          const timer = setTimeout(() => wake(), ms);
          wake = () => {
            clearTimeout(timer);
            wake = () => {};
            resolve();
          };
        });

      async function follow(filter: StreamFilter, out: StreamSink) {
        sink = out;
        const unsubscribe = listener?.subscribe(() => {
          notified = true;
          wake();
        });
        let after = filter.after;
        let lastWrite = Date.now();
        let failing = false;
        try {
          while (!stopped) {
            notified = false;
            let page: FeedPage;
            try {
              page = await options.gate(() =>
                readFeed(sql, { after, types: filter.types, product: filter.product, limit: STREAM_BATCH }),
              );
              if (failing) logger.info('events: a stream reads the feed again');
              failing = false;
            } catch (error) {
              // The pool was closed (the app is gone): nothing more to read.
              if ((error as { code?: unknown }).code === 'CONNECTION_ENDED') return;
              if (!failing) logger.warn('events: a stream could not read the feed; it retries', { error: describe(error) });
              failing = true;
              await pause(options.pollMs);
              continue;
            }
            for (const event of page.events) {
              if (stopped) return;
              await out.event(event);
              after = event.position;
              lastWrite = Date.now();
            }
            if (page.more) continue;
            // Caught up: nothing the filter takes lies at or before the feed's end.
            after = Math.max(after, page.end);
            if (Date.now() - lastWrite >= heartbeatMs) {
              await out.comment('keep-alive');
              lastWrite = Date.now();
            }
            await pause(Math.max(1, Math.min(options.pollMs, heartbeatMs - (Date.now() - lastWrite))));
          }
        } finally {
          unsubscribe?.();
          release();
        }
      }

      return { follow, end: entry.stop, release };
    },
    async close() {
      closing = true;
      const streams = [...open];
      for (const stream of streams) stream.stop();
      const all = Promise.all(streams.map((s) => s.done));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const cut = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          // Still writing to a client that does not read: end those streams now.
          for (const stream of open) stream.abort();
          resolve();
        }, CLOSE_GRACE_MS);
      });
      await Promise.race([all, cut]);
      clearTimeout(timer);
      await all;
      await listener?.close();
    },
  };
}
