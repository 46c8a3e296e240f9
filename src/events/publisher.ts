import { every, type BackgroundDeps, type BackgroundJob } from '../background-loop.ts';
import { expireReservations, publishEvents, pruneEvents } from './queries.ts';

/** Events numbered per call; a full batch is followed at once by the next. */
export const PUBLISH_BATCH = 10_000;
/** Reservations closed per call. */
export const EXPIRE_BATCH = 1000;
/** Events deleted per call. */
export const PRUNE_BATCH = 5000;
const EXPIRE_INTERVAL_MS = 1000;

/**
 * The events' background work, in three loops of their own: publishing
 * (events_publish every EVENTS_PUBLISH_INTERVAL_MS, at once again while it
 * publishes full batches), expiring reservations (every second: each publishes
 * stock.expired), and pruning events older than EVENT_RETENTION_DAYS (every
 * EVENTS_PRUNE_INTERVAL_S, in batches until a batch is not full). Each runs once
 * at start. Several processes may run it: one publisher at a time holds the
 * lock, the others find it taken and publish nothing.
 */
export function startPublisher({ sql, config, logger }: BackgroundDeps): BackgroundJob {
  const untilShort = async (call: () => Promise<number>, batch: number, stopping: () => boolean) => {
    while ((await call()) >= batch && !stopping()) {
      // a full batch: more are waiting
    }
  };
  const loops = [
    every(
      'events_publish',
      config.eventsPublishIntervalMs,
      (stopping) => untilShort(() => publishEvents(sql, PUBLISH_BATCH), PUBLISH_BATCH, stopping),
      logger,
    ),
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
