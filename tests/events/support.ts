/** Helpers for the feed and stream tests: publishing, following the feed, reading a stream. */
import type { FeedEvent } from '../../src/events/model.ts';
import type { Sql } from '../../src/db.ts';

/** Publishes every committed event now, as the publisher's loop would; returns how many. */
export async function publishAll(sql: Sql): Promise<number> {
  let total = 0;
  for (;;) {
    const [row] = await sql<{ n: number }[]>`SELECT events_publish(10000) AS n`;
    total += row!.n;
    if (row!.n < 10000) return total;
  }
}

/** Polls `condition` every 20 ms until it holds; fails after `timeoutMs`. */
export async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await Bun.sleep(20);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

type Fetcher = (path: string, init?: RequestInit) => Promise<Response>;

/** One answer of GET /events: its events and where to continue. */
export async function readPage(
  fetch: Fetcher,
  query: string,
): Promise<{ events: FeedEvent[]; last: number; next: string | null }> {
  const res = await fetch(`/events?${query}`);
  if (res.status !== 200) throw new Error(`GET /events?${query}: ${res.status} ${await res.text()}`);
  const last = res.headers.get('events-last-position');
  if (last === null) throw new Error('no Events-Last-Position');
  return { events: (await res.json()) as FeedEvent[], last: Number(last), next: res.headers.get('link') };
}

/** A message of a stream: its fields, or a comment. */
export type SseMessage = { id?: string; event?: string; data?: string; retry?: string; comment?: string };

/**
 * Reads a text/event-stream body message by message. `next()` waits for the
 * next message (at most `timeoutMs`); `events()` the next `n` events, parsed.
 */
export function sseReader(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let ended = false;
  const queue: SseMessage[] = [];
  let pending: ReturnType<typeof reader.read> | undefined;

  const parse = (block: string): SseMessage => {
    const message: SseMessage = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) message.comment = line.slice(1).trim();
      else {
        const colon = line.indexOf(':');
        const field = line.slice(0, colon) as keyof SseMessage;
        const value = line.slice(colon + 1).replace(/^ /, '');
        message[field] = message[field] === undefined ? value : `${message[field]}\n${value}`;
      }
    }
    return message;
  };

  async function next(timeoutMs = 10_000): Promise<SseMessage | undefined> {
    const message = await within(timeoutMs);
    if (message === null) throw new Error(`no message within ${timeoutMs} ms`);
    return message;
  }

  /** The next message, undefined when the stream ended, null when none came within `timeoutMs`. */
  async function within(timeoutMs: number): Promise<SseMessage | undefined | null> {
    const deadline = Date.now() + timeoutMs;
    while (queue.length === 0) {
      if (ended) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), left);
      });
      const chunk = await Promise.race([(pending ??= reader.read()), timeout]);
      clearTimeout(timer);
      if (chunk === 'timeout') continue;
      pending = undefined;
      if (chunk.done) {
        ended = true;
        continue;
      }
      buffer += decoder.decode(chunk.value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        queue.push(parse(buffer.slice(0, end)));
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
      }
    }
    return queue.shift();
  }

  /** The next `n` events (messages with data), parsed; comments and `retry` are skipped. */
  async function events(n: number, timeoutMs = 10_000): Promise<(FeedEvent & { sseId: string; sseEvent: string })[]> {
    const out: (FeedEvent & { sseId: string; sseEvent: string })[] = [];
    const deadline = Date.now() + timeoutMs;
    while (out.length < n) {
      const message = await next(Math.max(1, deadline - Date.now()));
      if (!message) throw new Error(`the stream ended after ${out.length} of ${n} events`);
      if (message.data === undefined) continue;
      out.push({ ...(JSON.parse(message.data) as FeedEvent), sseId: message.id!, sseEvent: message.event! });
    }
    return out;
  }

  return {
    next,
    within,
    events,
    /** Whether the stream has ended (the server closed it), reading what remains. */
    async ended(timeoutMs = 10_000): Promise<boolean> {
      while (!ended) {
        if ((await next(timeoutMs)) === undefined) return true;
      }
      return true;
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}
