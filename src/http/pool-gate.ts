import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../errors.ts';
import type { AppEnv } from './context.ts';

export type PoolGate = {
  middleware: MiddlewareHandler<AppEnv>;
  /** Runs `fn` holding a slot, as a request would: for work outside a request, such as an event stream's reads. */
  run: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Requests holding a connection slot, and requests waiting for one. */
  stats: () => { inUse: number; waiting: number; size: number };
};

/**
 * Lets at most `size` requests use the database at once (one per pooled
 * connection) and makes the others wait at most `waitMs`, then answers 503.
 * A request that gives up has sent no query, so nothing it asked for can run
 * after its error; and the driver's own queue never grows without bound.
 * `reserved` connections (at most size - 1) are kept for work that runs before
 * the gate, such as the rate limit's one counting statement at a time, so that
 * it never waits behind the requests it lets through.
 */
export function createPoolGate(size: number, waitMs: number, reserved = 0): PoolGate {
  const admitted = Math.max(1, size - reserved);
  let inUse = 0;
  const waiting: { grant: () => void; timer: ReturnType<typeof setTimeout> }[] = [];

  const release = () => {
    const next = waiting.shift();
    if (next) {
      clearTimeout(next.timer);
      next.grant(); // the slot passes straight to the next request
    } else {
      inUse--;
    }
  };

  const acquire = (): Promise<void> | undefined => {
    if (inUse < admitted) {
      inUse++;
      return undefined;
    }
    return new Promise((resolve, reject) => {
      const entry = {
        grant: resolve,
        timer: setTimeout(() => {
          waiting.splice(waiting.indexOf(entry), 1);
          reject(
            new ApiError('database_unavailable', `the database is busy; no connection within ${waitMs} ms`, undefined, {
              'retry-after': '1',
            }),
          );
        }, waitMs),
      };
      waiting.push(entry);
    });
  };

  const middleware: MiddlewareHandler<AppEnv> = async (_c, next) => {
    const wait = acquire();
    if (wait) await wait;
    try {
      await next();
    } finally {
      release();
    }
  };

  const run = async <T>(fn: () => Promise<T>): Promise<T> => {
    const wait = acquire();
    if (wait) await wait;
    try {
      return await fn();
    } finally {
      release();
    }
  };

  return { middleware, run, stats: () => ({ inUse, waiting: waiting.length, size }) };
}
