import { every, untilShort, type BackgroundDeps, type BackgroundJob } from '../background-loop.ts';
import { pruneDeliveries } from './queries.ts';

const PRUNE_BATCH = 5000;

/** Keeps delivery attempts as long as events (EVENT_RETENTION_DAYS), pruned as often as they are. */
export function startDeliveriesPruner({ sql, config, logger }: BackgroundDeps): BackgroundJob {
  return every(
    'webhook_deliveries_prune',
    config.eventsPruneIntervalS * 1000,
    (stopping) => untilShort(() => pruneDeliveries(sql, config.eventRetentionDays, PRUNE_BATCH), PRUNE_BATCH, stopping),
    logger,
  );
}
