import type { Config } from './config.ts';

const levels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
type Level = Exclude<keyof typeof levels, 'silent'>;

export type Logger = {
  [L in Level]: (msg: string, fields?: Record<string, unknown>) => void;
};

export type LogSink = (line: string) => void;

const stdout: LogSink = (line) => {
  process.stdout.write(line + '\n');
};

/** Writes one JSON object per line, the format log collectors expect. */
export function createLogger(level: Config['logLevel'], sink: LogSink = stdout): Logger {
  const threshold = levels[level];
  const emit = (lvl: Level) => (msg: string, fields: Record<string, unknown> = {}) => {
    if (levels[lvl] < threshold) return;
    sink(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields }));
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}
