import { every, untilShort, type BackgroundDeps, type BackgroundJob } from '../background-loop.ts';
import { expireReservations, publishEvents, pruneEvents } from './queries.ts';

/** Events numbered per call; a full batch is followed at once by the next. */
export const PUBLISH_BATCH = 10_000;
/** The smallest batch a publisher falls back to when batches time out. */
const MIN_PUBLISH_BATCH = 100;
/** Reservations closed per call. */
export const EXPIRE_BATCH = 1000;
/** Events deleted per call. */
export const PRUNE_BATCH = 5000;
const EXPIRE_INTERVAL_MS = 1000;
/** SQLSTATE of a statement cancelled by statement_timeout. */
const QUERY_CANCELED = '57014';

/**
 * The events' background work, in three loops of their own: publishing
 * (events_publish every EVENTS_PUBLISH_INTERVAL_MS, at once again while it
 * publishes full batches; smaller ones while they time out), expiring reservations (every second: each publishes
 * stock.expired), and pruning events older than EVENT_RETENTION_DAYS (every
 * EVENTS_PRUNE_INTERVAL_S, in batches until a batch is not full). Each runs once
 * at start. Several processes may run it: one publisher at a time holds the
 * lock, the others find it taken and publish nothing.
 */
export function startPublisher({ sql, config, logger }: BackgroundDeps): BackgroundJob {
  // A batch the statement timeout cancels (a loaded database) would be tried again whole, forever: halve it
  // until one passes, then grow back.
  let batch = PUBLISH_BATCH;
  const publish = async (stopping: () => boolean) => {
    try {
      while ((await publishEvents(sql, batch)) >= batch && !stopping()) {
        // a full batch: more are waiting
      }
      batch = Math.min(PUBLISH_BATCH, batch * 2);
    } catch (error) {
      if ((error as { code?: unknown }).code === QUERY_CANCELED) batch = Math.max(MIN_PUBLISH_BATCH, Math.floor(batch / 2));
      throw error;
    }
  };
  const loops = [
    every('events_publish', config.eventsPublishIntervalMs, publish, logger),
    every(
      'reservations_expire',
      EXPIRE_INTERVAL_MS,
      (stopping) => untilShort(() => expireReservations(sql, EXPIRE_BATCH), EXPIRE_BATCH, stopping),
      logger,
    ),
    every(
      'events_prune',
      config.eventsPruneIntervalS * 1000,
      (stopping) => untilShort(() => pruneEvents(sql, config.eventRetentionDays, PRUNE_BATCH), PRUNE_BATCH, stopping),
      logger,
    ),
  ];
  return { stop: async () => void (await Promise.all(loops.map((loop) => loop.stop()))) };
}
