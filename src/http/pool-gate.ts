import { ApiError } from '../errors.ts';

export type PoolGate = {
  /**
   * Runs `fn` once the request is admitted to the database: `shared` for a read of
   * single statements, which may be pipelined on a busy connection; otherwise it takes
   * a connection of its own (a write, a transaction). Waits at most the pool wait, then
   * fails with 503 `database_unavailable` without running `fn`.
   */
  hold: <T>(shared: boolean, fn: () => Promise<T>) => Promise<T>;
  /** Requests admitted to the database, requests waiting to be, and the pool's connections. */
  stats: () => { inUse: number; waiting: number; size: number };
};

/**
 * Lets only as many requests use the database at once as the pool serves
 * promptly, and makes the others wait at most `waitMs`, then answers 503.
 * A request that gives up has sent no query, so nothing it asked for can run
 * after its error; and the driver's own queue never grows without bound.
 *
 * A request that needs a connection of its own (a write, a transaction) is
 * admitted while fewer requests than connections are. Reads of single
 * statements may be admitted up to `depth` per connection while no such
 * request is admitted or waiting: the driver then pipelines them on busy
 * connections, and PostgreSQL answers several from one wake-up, which costs it
 * and the service less CPU per request than a connection per read. A request
 * that needs its own connection waits until the reads in flight leave one free
 * (they are not admitted past it meanwhile), so that the driver never holds a
 * transaction back behind pipelined reads. With `depth` 1, one request per connection.
 *
 * `reserved` connections (at most size - 1) are kept for work that runs before
 * the gate, such as the rate limit's one counting statement at a time, so that
 * it never waits behind the requests it lets through.
 */
export function createPoolGate(size: number, waitMs: number, reserved = 0, depth = 1): PoolGate {
  const connections = Math.max(1, size - reserved);
  let shared = 0;
  let own = 0;
  const waiting: { shared: boolean; grant: () => void; timer: ReturnType<typeof setTimeout> }[] = [];

  const fits = (asShared: boolean) => (asShared && own === 0 ? shared < connections * depth : shared + own < connections);

  const admit = (asShared: boolean) => {
    if (asShared) shared++;
    else own++;
  };

  /** Admits the waiting requests that fit now, first come, first served. */
  const drain = () => {
    while (waiting.length > 0 && fits(waiting[0]!.shared)) {
      const next = waiting.shift()!;
      clearTimeout(next.timer);
      admit(next.shared);
      next.grant();
    }
  };

  const acquire = (asShared: boolean): Promise<void> | undefined => {
    if (waiting.length === 0 && fits(asShared)) {
      admit(asShared);
      return undefined;
    }
    return new Promise((resolve, reject) => {
      const entry = {
        shared: asShared,
        grant: resolve,
        timer: setTimeout(() => {
          waiting.splice(waiting.indexOf(entry), 1);
          // The reads behind a request that gave up may fit now.
          drain();
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

  const hold = async <T>(asShared: boolean, fn: () => Promise<T>): Promise<T> => {
    const wait = acquire(asShared);
    if (wait) await wait;
    try {
      return await fn();
    } finally {
      if (asShared) shared--;
      else own--;
      drain();
    }
  };

  return { hold, stats: () => ({ inUse: shared + own, waiting: waiting.length, size }) };
}
