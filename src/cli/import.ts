/**
 * `bun run import <file.csv|file.jsonl> [--mode=upsert|insert] [--skip-invalid]`
 *
 * Imports products in one transaction (src/import/): rows are matched by SKU
 * among active products, new ones inserted, existing ones updated, stock
 * changes written to the ledger. A file with an invalid row applies nothing
 * unless --skip-invalid is given. Uses DATABASE_URL, or the embedded database
 * `./run.sh` serves. Progress goes to stderr, the report and summary to stdout.
 * Exit status: 0 applied, 1 refused or failed, 2 usage.
 */
import { parseArgs } from 'node:util';
import { createPool } from '../db.ts';
import { importFile, type ImportProgress, type ImportResult } from '../import/import-file.ts';
import { databaseUrl } from './database.ts';
import { connectionFailure } from './database-url.ts';

const USAGE = 'usage: bun run import <file.csv|file.jsonl> [--mode=upsert|insert] [--skip-invalid]';
/** Plain progress (not a terminal) prints a line every this many rows. */
const PLAIN_EVERY_ROWS = 100_000;

type Output = { isTTY?: boolean; write: (text: string) => unknown };

const perSecond = (rows: number, seconds: number) => Math.round(rows / Math.max(seconds, 0.001));
const secs = (s: number) => `${s.toFixed(1)} s`;

/**
 * Progress on `out`: on a terminal a bar (bytes read) with rows and rows/s,
 * redrawn in place at most ten times a second; otherwise a line every
 * 100,000 rows and one per phase.
 */
export function progressPrinter(out: Output): (p: ImportProgress) => void {
  let nextRows = PLAIN_EVERY_ROWS;
  let lastDraw = 0;
  let readSeconds = 0;
  let phaseStart = 0;
  const bar = (p: ImportProgress) => {
    const share = p.totalBytes ? Math.min(p.bytes / p.totalBytes, 1) : 1;
    const filled = Math.round(share * 30);
    return (
      `\r\x1b[K[${'#'.repeat(filled)}${'.'.repeat(30 - filled)}] ${String(Math.round(share * 100)).padStart(3)}%  ` +
      `${p.rows} rows  ${perSecond(p.rows, p.seconds)} rows/s`
    );
  };
  return (p) => {
    if (p.phase === 'read') {
      if (out.isTTY) {
        if (p.seconds - lastDraw >= 0.1) {
          out.write(bar(p));
          lastDraw = p.seconds;
        }
      } else if (p.rows >= nextRows) {
        out.write(`read ${p.rows} rows (${secs(p.seconds)}, ${perSecond(p.rows, p.seconds)} rows/s)\n`);
        nextRows = (Math.floor(p.rows / PLAIN_EVERY_ROWS) + 1) * PLAIN_EVERY_ROWS;
      }
    } else if (p.phase === 'check') {
      if (out.isTTY) out.write(`${bar({ ...p, bytes: p.totalBytes })}\n`);
      out.write(`read ${p.rows} rows in ${secs(p.seconds)}; checking them\n`);
      readSeconds = phaseStart = p.seconds;
    } else if (p.phase === 'apply') {
      out.write(`checked in ${secs(p.seconds - readSeconds)}; applying\n`);
      phaseStart = p.seconds;
    } else if (p.phase === 'done' && phaseStart > readSeconds) {
      out.write(`applied in ${secs(p.seconds - phaseStart)}\n`);
    }
  };
}

/** The report: one line per error, then the summary (and, when products were updated, what changed). */
export function formatReport(result: ImportResult, options: { skipInvalid: boolean }): string {
  const lines = result.invalid.map((e) => `line ${e.line}: ${e.field}: ${e.message}`);
  if (result.errorCount > result.invalid.length) {
    lines.push(`... and ${result.errorCount - result.invalid.length} more errors`);
  }
  const rate = `${result.rows} rows in ${secs(result.seconds)} (${perSecond(result.rows, result.seconds)} rows/s)`;
  if (result.applied) {
    lines.push(
      `imported ${rate}: ${result.inserted} inserted, ${result.updated} updated, ` +
        `${result.unchanged} unchanged, ${result.invalidRows} invalid`,
    );
    if (result.updated > 0) {
      const fields = Object.entries(result.changed)
        .map(([field, n]) => `${field} ${n}`)
        .join(', ');
      lines.push(`products changed per field: ${fields}`);
    }
  } else {
    const hint =
      result.invalidRows && !options.skipInvalid && result.rows > result.invalidRows
        ? ` (--skip-invalid applies the ${result.rows - result.invalidRows} valid rows)`
        : '';
    lines.push(`refused ${rate}: ${result.invalidRows || result.errorCount} invalid, nothing applied${hint}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A message for what stopped the import, without SQL or stack traces. */
function describeFailure(error: unknown, file: string, url: string): string {
  const e = error as { code?: string; constraint_name?: string; message?: string };
  if (e.code === 'ENOENT') return `cannot read ${file}: no such file`;
  if (e.code === 'EISDIR') return `cannot read ${file}: it is a directory`;
  const unreachable = connectionFailure(e.code, url);
  if (unreachable) return unreachable;
  if (e.code === '23505') {
    return `another change made while the import ran conflicts with it (${e.constraint_name}); nothing was applied, run it again`;
  }
  return `import failed, nothing was applied: ${e.message ?? String(error)}`;
}

export async function main(argv: string[], env = process.env): Promise<number> {
  let file: string;
  let mode: 'upsert' | 'insert';
  let skipInvalid: boolean;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { mode: { type: 'string', default: 'upsert' }, 'skip-invalid': { type: 'boolean', default: false } },
    });
    if (positionals.length !== 1) throw new Error('name one file to import');
    if (values.mode !== 'upsert' && values.mode !== 'insert') throw new Error('--mode must be upsert or insert');
    [file, mode, skipInvalid] = [positionals[0]!, values.mode, values['skip-invalid']];
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }

  const url = databaseUrl(env);
  const sql = createPool({ databaseUrl: url, poolMax: 1, statementTimeoutMs: 0, connectTimeoutMs: 10_000 }, 'inventory-import');
  try {
    const result = await importFile(sql, file, { mode, skipInvalid, onProgress: progressPrinter(process.stderr) });
    process.stdout.write(formatReport(result, { skipInvalid }));
    return result.applied ? 0 : 1;
  } catch (error) {
    process.stderr.write(`${describeFailure(error, file, url)}\n`);
    return 1;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
