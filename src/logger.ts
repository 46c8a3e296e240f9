import type { Config } from './config.ts';

const levels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
type Level = Exclude<keyof typeof levels, 'silent'>;

export type Logger = {
  [L in Level]: (msg: string, fields?: Record<string, unknown>) => void;
};

export type LogSink = (line: string) => void;

/**
 * Standard output, written once per event-loop turn: under load, one write
 * carries many lines instead of one system call each. Flushed on exit.
 */
let pending: string[] = [];
const flush = () => {
  if (pending.length === 0) return;
  const text = pending.join('');
  pending = [];
  process.stdout.write(text);
};
process.on('exit', flush);
const stdout: LogSink = (line) => {
  if (pending.length === 0) setImmediate(flush);
  pending.push(line + '\n');
};

function pretty(time: string, lvl: Level, msg: string, fields: Record<string, unknown>): string {
  const rest = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time.slice(11, 23)} ${lvl.toUpperCase().padEnd(5)} ${msg}${rest ? ` ${rest}` : ''}`;
}

/**
 * Writes one JSON object per line, the format log collectors expect; on a
 * terminal (format `auto`) or with format `pretty`, one readable line instead.
 */
export function createLogger(level: Config['logLevel'], sink: LogSink = stdout, format: Config['logFormat'] = 'json'): Logger {
  const threshold = levels[level];
  const human = format === 'pretty' || (format === 'auto' && sink === stdout && process.stdout.isTTY === true);
  const emit =
    (lvl: Level) =>
    (msg: string, fields: Record<string, unknown> = {}) => {
      if (levels[lvl] < threshold) return;
      const time = new Date().toISOString();
      sink(human ? pretty(time, lvl, msg, fields) : JSON.stringify({ time, level: lvl, msg, ...fields }));
    };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}
