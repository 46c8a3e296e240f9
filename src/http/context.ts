import type { Sql } from '../db.ts';
import type { EventStreams } from '../events/streams.ts';
import type { Logger } from '../logger.ts';
import type { RequestPolicy } from './route-table.ts';

/** What every handler finds on its context. */
export type AppEnv = {
  Variables: {
    /** The pool, or the transaction an idempotent request runs in. */
    sql: Sql;
    logger: Logger;
    requestId: string;
    /** Who the request proved to be: a fingerprint of its API key (unset without API keys). */
    client?: string;
    /** What the layers before the handler do for this request, from its route's declaration. */
    policy?: RequestPolicy;
    /** The app's event streams (GET /events/stream). */
    eventStreams: EventStreams;
  };
};
