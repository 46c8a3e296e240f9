/** The loop every background job runs its steps in (src/background.ts starts the jobs). */
import type { Config } from './config.ts';
import type { Pool } from './db.ts';
import type { Logger } from './logger.ts';

/** What a job is started with: a pool of its own (not the requests'), the settings, the logger. */
export type BackgroundDeps = { sql: Pool; config: Config; logger: Logger };

/** A running job: stop() ends it once the step it is taking has finished. */
export type BackgroundJob = { stop: () => Promise<void> };

/** How a repeated step learns that its job is stopping, to end a loop of its own early. */
export type Step = (stopping: () => boolean) => Promise<unknown>;

/** Failures of a step logged again, at most this often, while it keeps failing. */
const REPEAT_LOG_MS = 60_000;

/**
 * Runs `step` now, then `intervalMs` after each run ends: never two at once.
 * A step that fails is logged (one line: its error's code and message) and the
 * next runs as planned; while it keeps failing, once a minute. Nothing it does
 * can reject unhandled or stop the process.
 */
export function every(name: string, intervalMs: number, step: Step, logger: Logger): BackgroundJob {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let current: Promise<void> | undefined;
  let failures = 0;
  let loggedAt = 0;
  const stopping = () => stopped;

  const run = async () => {
    timer = undefined;
    try {
      await step(stopping);
      if (failures > 0) logger.info('background job recovered', { job: name, failures });
      failures = 0;
    } catch (error) {
      failures++;
      if (failures === 1 || Date.now() - loggedAt >= REPEAT_LOG_MS) {
        loggedAt = Date.now();
        const { code, message } = error as { code?: unknown; message?: unknown };
        logger.error('background job failed', { job: name, failures, code, error: String(message ?? error) });
      }
    }
    if (!stopped) timer = setTimeout(() => (current = run()), intervalMs);
  };
  current = run();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}

/** Calls `call` (which returns how many rows it handled) again while it handles full batches. */
export async function untilShort(call: () => Promise<number>, batch: number, stopping: () => boolean): Promise<void> {
  while ((await call()) >= batch && !stopping()) {
    // a full batch: more are waiting
  }
}
