import type { Pool } from '../db.ts';
import type { Logger } from '../logger.ts';

/** The channel events_publish notifies, with the last position it gave, when its transaction commits. */
export const EVENTS_CHANNEL = 'events';

/** How long after a failed LISTEN the next attempt is made (meanwhile streams poll). */
const RETRY_MS = 5000;

export type EventListener = {
  /**
   * Calls `wake` at every notification, and whenever LISTEN starts (again,
   * after its connection was lost): what was published before was not
   * notified. Returns the function that stops calling it.
   */
  subscribe: (wake: () => void) => () => void;
  /** Stops listening. */
  close: () => Promise<void>;
};

/**
 * One LISTEN per pool, on the dedicated connection postgres.js opens for it
 * (outside the pool's connections), fanned out to every subscriber. It starts
 * with the first subscriber, so a process that serves no stream opens no such
 * connection. postgres.js listens again by itself when that connection is
 * lost and comes back; a first LISTEN that fails is tried again every 5 s
 * while anyone subscribes. A notification only wakes: subscribers read the
 * feed, so one that is lost (or never sent, behind a pooler in transaction
 * mode) only delays them until they poll.
 */
export function createListener(sql: Pool, logger: Logger): EventListener {
  const subscribers = new Set<() => void>();
  let started: Promise<void> | undefined;
  let unlisten: (() => Promise<void>) | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const wakeAll = () => {
    for (const wake of subscribers) wake();
  };

  const start = () => {
    started = (async () => {
      try {
        // onlisten is called at the first LISTEN and again after each lost connection: what was published
        // before it (a subscriber may have read just before) was not notified to us, so everyone reads again.
        const listening = await sql.listen(EVENTS_CHANNEL, wakeAll, wakeAll);
        if (closed) await listening.unlisten();
        else unlisten = listening.unlisten;
      } catch (error) {
        if (closed) return;
        logger.warn('events: LISTEN failed; streams poll until it succeeds', { error: describe(error) });
        started = undefined;
        retry = setTimeout(() => {
          retry = undefined;
          if (!closed && subscribers.size > 0 && !started) start();
        }, RETRY_MS);
      }
    })();
  };

  return {
    subscribe(wake) {
      subscribers.add(wake);
      if (!started && !retry && !closed) start();
      return () => subscribers.delete(wake);
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      subscribers.clear();
      await started;
      await unlisten?.().catch(() => {});
    },
  };
}

/** An error in a log line: its code and message, not the SQL (postgres.js keeps that apart). */
export function describe(error: unknown): Record<string, unknown> {
  if (error instanceof Error) return { code: (error as { code?: unknown }).code, message: error.message };
  return { message: String(error) };
}
