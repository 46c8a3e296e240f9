/**
 * The work a process does besides answering requests: publishing events,
 * expiring reservations, delivering webhooks, pruning old events and delivery
 * attempts. Every API process runs it
 * (BACKGROUND_JOBS, on by default: the publisher is single-flight in SQL, so
 * several processes are safe), or `bun run worker` does for API processes
 * started with BACKGROUND_JOBS=false.
 */
import type { BackgroundDeps, BackgroundJob } from './background-loop.ts';
import type { Config } from './config.ts';
import { createPool } from './db.ts';
import { startPublisher } from './events/publisher.ts';
import { startDeliverer } from './webhooks/deliverer.ts';
import { startDeliveriesPruner } from './webhooks/pruner.ts';

export type { BackgroundDeps, BackgroundJob };

/** Starts a job with the dependencies every job gets. */
export type StartJob = (deps: BackgroundDeps) => BackgroundJob;

/**
 * The jobs by name (the names `bun run worker` logs), each started with the
 * same dependencies: the events' loops (publishing, expiring reservations,
 * pruning events: src/events/publisher.ts), webhook delivery, and pruning
 * delivery attempts.
 */
export const JOBS: Readonly<Record<string, StartJob>> = {
  events: startPublisher,
  webhooks_deliver: startDeliverer,
  webhook_deliveries_prune: startDeliveriesPruner,
};

/** The running jobs, with the names of those started (none when the configuration turns them off). */
export type Background = BackgroundJob & { names: string[] };

/** Starts every background job, unless the configuration turns them off; stop() ends them all. */
export function startBackground(deps: BackgroundDeps, jobs: Readonly<Record<string, StartJob>> = JOBS): Background {
  if (!deps.config.backgroundJobs) return { names: [], stop: async () => {} };
  const started = Object.entries(jobs);
  const running = started.map(([, start]) => start(deps));
  let stopping: Promise<void> | undefined;
  return {
    names: started.map(([name]) => name),
    stop: () => (stopping ??= Promise.all(running.map((job) => job.stop())).then(() => {})),
  };
}

/**
 * The background jobs' own pool (four connections, opened on first use), apart
 * from the requests' pool so that the pool gate's count of that one stays exact.
 * Their statements are short: a delivery holds none while its request is out.
 */
export function backgroundPool(config: Config) {
  return createPool({ ...config, poolMax: 4 }, 'inventory-background');
}
