import type { Pool } from '../db.ts';
import type { Logger } from '../logger.ts';

/** What every handler finds on its context. */
export type AppEnv = {
  Variables: {
    sql: Pool;
    logger: Logger;
    requestId: string;
  };
};
