import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { transaction, type Sql } from '../db.ts';
import {
  applyRows,
  checkRows,
  copyIntoStaging,
  createStaging,
  dropImportTables,
  NO_CHANGES,
  readCheckReport,
  recordImportCompleted,
  type FieldCounts,
  type ImportMode,
  type RowError,
} from './queries.ts';
import { copyLine, FileShapeError, parserFor } from './rows.ts';

export type ImportPhase = 'read' | 'check' | 'apply' | 'done';

/** Where an import is: `rows` read so far, `bytes` of `totalBytes`, `seconds` since it started. */
export type ImportProgress = { phase: ImportPhase; rows: number; bytes: number; totalBytes: number; seconds: number };

export type ImportOptions = {
  mode?: ImportMode;
  /** Apply the valid rows of a file that has invalid ones (otherwise such a file applies nothing). */
  skipInvalid?: boolean;
  /** How many errors the result lists (they are all counted); default 1000. */
  maxErrors?: number;
  onProgress?: (progress: ImportProgress) => void;
};

export type ImportResult = {
  /** Data rows read from the file. */
  rows: number;
  inserted: number;
  updated: number;
  /** Rows naming an existing product that they leave as it is. */
  unchanged: number;
  /** Per field, how many existing products the import changed it in. */
  changed: FieldCounts;
  categoriesCreated: number;
  /** Rows with at least one error. */
  invalidRows: number;
  /** All errors found; `invalid` lists the first maxErrors of them in line order. */
  errorCount: number;
  invalid: RowError[];
  /** Whether the valid rows were written. */
  applied: boolean;
  seconds: number;
};

const CHUNK_BYTES = 1 << 20;

/**
 * Imports a CSV or JSONL file of products in one transaction: streams it into
 * a staging table with COPY, checks every row in SQL with the API's rules and,
 * unless a row is invalid (or `skipInvalid` is set), upserts the products by
 * SKU, keeping the stock ledger: quantity = sum of the product's movements.
 */
export async function importFile(sql: Sql, path: string, options: ImportOptions = {}): Promise<ImportResult> {
  const started = performance.now();
  const totalBytes = statSync(path).size; // a missing file fails here, before any SQL
  const seconds = () => (performance.now() - started) / 1000;
  let rows = 0;
  let bytes = 0;
  const report = (phase: ImportPhase) => options.onProgress?.({ phase, rows, bytes, totalBytes, seconds: seconds() });
  // The stock note names the file; a note holds no control characters but tab and line breaks.
  const note = `import ${basename(path).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')}`.slice(0, 500);

  /** The file as COPY text, a chunk at a time: memory stays flat whatever the file's size. */
  async function* copyText() {
    const parser = parserFor(path);
    const decoder = new TextDecoder(); // strips a byte order mark
    for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES })) {
      const staged = parser.push(decoder.decode(chunk as Buffer, { stream: true }));
      bytes += (chunk as Buffer).length;
      rows += staged.length;
      if (staged.length) yield staged.map(copyLine).join('');
      report('read');
    }
    const last = [...parser.push(decoder.decode()), ...parser.end()];
    rows += last.length;
    if (last.length) yield last.map(copyLine).join('');
  }

  try {
    return await transaction(sql, async (tx) => {
      // A bulk import legitimately runs longer than an API statement may.
      await tx`SET LOCAL statement_timeout = 0`;
      await tx`SET LOCAL work_mem = '128MB'`;
      await createStaging(tx);
      await pipeline(Readable.from(copyText()), await copyIntoStaging(tx));
      report('check');
      await checkRows(tx, options.mode ?? 'upsert');
      const check = await readCheckReport(tx, options.maxErrors ?? 1000);
      const result: ImportResult = {
        rows: check.rows,
        inserted: 0,
        updated: 0,
        unchanged: 0,
        changed: { ...NO_CHANGES },
        categoriesCreated: 0,
        invalidRows: check.invalidRows,
        errorCount: check.errorCount,
        invalid: check.errors,
        applied: false,
        seconds: 0,
      };
      if (check.invalidRows === 0 || options.skipInvalid) {
        report('apply');
        Object.assign(result, await applyRows(tx, note), { applied: true });
        await recordImportCompleted(tx, basename(path), result);
      }
      await dropImportTables(tx);
      result.seconds = seconds();
      report('done');
      return result;
    });
  } catch (error) {
    if (!(error instanceof FileShapeError)) throw error;
    return {
      rows,
      inserted: 0,
      updated: 0,
      unchanged: 0,
      changed: { ...NO_CHANGES },
      categoriesCreated: 0,
      invalidRows: 0,
      errorCount: error.problems.length,
      invalid: error.problems,
      applied: false,
      seconds: seconds(),
    };
  }
}
