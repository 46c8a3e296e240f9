/**
 * The project's programs run as processes, as users run them: spawned from the
 * project's directory with PATH and the given environment only, their output
 * kept line by line, and waited for until they answer.
 */
import { HEADER_SIZE_FLAG } from '../../src/server.ts';

/** The project's directory, where processes are started. */
export const ROOT = `${import.meta.dir}/../..`;

/** Waits until `condition` holds, checking every 25 ms; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, condition: () => T | Promise<T>, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(25);
  }
}

export type Proc = {
  name: string;
  proc: Bun.Subprocess<'ignore', 'pipe', 'inherit'>;
  /** Its standard output, line by line, as it comes. */
  lines: string[];
  /** Settles once its standard output has ended. */
  done: Promise<void>;
};

/**
 * Starts `cmd` in the project's directory with PATH and `env` only, keeping
 * its output's lines (read as they come, so that its pipe never fills).
 */
export function spawnLogged(name: string, cmd: string[], env: Record<string, string>): Proc {
  const proc = Bun.spawn(cmd, {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'inherit',
  });
  const lines: string[] = [];
  const done = (async () => {
    const decoder = new TextDecoder();
    let rest = '';
    for await (const chunk of proc.stdout) {
      const text = rest + decoder.decode(chunk, { stream: true });
      const parts = text.split('\n');
      rest = parts.pop()!;
      lines.push(...parts.filter(Boolean));
    }
    if (rest) lines.push(rest);
  })();
  return { name, proc, lines, done };
}

/** A process's JSON log lines with this `msg`. */
export const logged = (p: Pick<Proc, 'lines'>, msg: string): Record<string, any>[] =>
  p.lines.flatMap((line) => {
    try {
      const entry = JSON.parse(line);
      return entry.msg === msg ? [entry] : [];
    } catch {
      return [];
    }
  });

/** Whether the process is still running. */
export const alive = (p: Proc) => p.proc.exitCode === null && p.proc.signalCode === null;

/** Waits until a server process answers GET /healthz on `port`; fails if it exits first. */
export async function answering(p: Proc, port: number): Promise<void> {
  await waitFor(`${p.name} to answer`, async () => {
    if (!alive(p)) throw new Error(`${p.name} exited (${p.proc.exitCode ?? p.proc.signalCode})`);
    return fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.status === 200,
      () => false,
    );
  });
}

/** Starts the API (src/server.ts, with the flags run.sh gives Bun) with `env`; see `answering` to wait until it serves. */
export const spawnServer = (name: string, env: Record<string, string>): Proc =>
  spawnLogged(name, [process.execPath, HEADER_SIZE_FLAG, 'src/server.ts'], env);
