/**
 * Reading an import file into staging rows: CSV (RFC 4180, with a header row)
 * or JSONL (one JSON object per line), parsed incrementally chunk by chunk so
 * a file of any size is read in constant memory. Only what SQL cannot see is
 * decided here: the file's shape (header, field count, JSON syntax, JSON types)
 * and NUL characters (PostgreSQL text cannot hold them). Every other row rule
 * is checked in SQL over the staging table (src/import/queries.ts).
 */

import { NAME_CHARACTERS_MESSAGE, TEXT_CHARACTERS_MESSAGE } from '../http/text.ts';

/** The columns of an import file, in staging-table order. */
export const FIELDS = ['sku', 'name', 'description', 'price', 'quantity', 'category', 'location'] as const;
export type Field = (typeof FIELDS)[number];

/**
 * Columns a CSV header must have; the others may be left out, and a column
 * left out changes nothing (src/import/queries.ts, checkRows).
 */
const REQUIRED_COLUMNS: readonly Field[] = ['sku'];

/** A record longer than this is refused without being held in memory. */
export const MAX_RECORD_CHARS = 1 << 20;

/**
 * One data row of the file. A value is null when the row does not give it (an
 * empty unquoted CSV field, a missing or null JSON field); a quoted empty CSV
 * field is ''. `descriptionGiven` tells a description left out (the CSV has no
 * such column, the JSON line no such key: the stored one is kept) from an empty
 * one (null: no description). `rowError` is a problem with the row as a whole
 * (its fields are then not checked); `problems` are problems of single fields
 * found while reading.
 */
export type StagedRow = {
  line: number;
  values: (string | null)[];
  descriptionGiven: boolean;
  rowError: string | null;
  problems: Record<string, string> | null;
};

export type FileProblem = { line: number; field: string; message: string };

/** The file's shape is wrong (a bad CSV header): no row can be read. */
export class FileShapeError extends Error {
  constructor(readonly problems: FileProblem[]) {
    super(problems.map((p) => `line ${p.line}: ${p.field}: ${p.message}`).join('\n'));
  }
}

export interface RowParser {
  /** Parses the next piece of text; returns the rows it completed. */
  push(text: string): StagedRow[];
  /** The end of the file; returns the last row, if any. */
  end(): StagedRow[];
}

const NUL = '\u0000';
/** PostgreSQL text cannot hold NUL: it is refused here, with the message the API gives for the field. */
const NUL_MESSAGES: Record<Field, string> = {
  sku: 'must not contain NUL characters',
  name: NAME_CHARACTERS_MESSAGE,
  description: TEXT_CHARACTERS_MESSAGE,
  price: 'must not contain NUL characters',
  quantity: 'must not contain NUL characters',
  category: NAME_CHARACTERS_MESSAGE,
  location: 'must not contain NUL characters',
};

/** Sets a value, or records a NUL problem for it (the value is then left out). */
function setValue(row: StagedRow, index: number, value: string | null) {
  if (value?.includes(NUL)) {
    problemsOf(row)[FIELDS[index]!] = NUL_MESSAGES[FIELDS[index]!];
    return;
  }
  row.values[index] = value;
}

/** A row's problems; without a prototype, so a JSON key "__proto__" is an ordinary key. */
function problemsOf(row: StagedRow): Record<string, string> {
  return (row.problems ??= Object.create(null) as Record<string, string>);
}

const emptyValues = (): (string | null)[] => FIELDS.map(() => null);

// ---------------------------------------------------------------------------
// CSV

// biome-ignore lint/suspicious/noConstEnum: never exported, so a per-file transpiler compiles it like a plain enum
const enum State {
  FieldStart,
  Unquoted,
  Quoted,
  QuoteInQuoted,
}
const COMMA = 44,
  QUOTE = 34,
  LF = 10,
  CR = 13;

/**
 * An RFC 4180 CSV parser that keeps its state between chunks: quoted fields
 * may hold commas, doubled quotes and line breaks; lines end in LF or CRLF.
 * An empty unquoted field is null, a quoted empty one ''. Lines are counted
 * from 1 (the header), each record numbered by the line it starts on.
 */
export function csvParser(): RowParser {
  let state = State.FieldStart;
  let line = 1; // the line the parser is on
  let recordLine = 1; // the line the current record started on
  let fields: (string | null)[] = [];
  let piece = ''; // the current field's text from earlier chunks
  let quoted = false;
  let recordChars = 0;
  let recordError: string | null = null;
  let columns: (number | undefined)[] | undefined; // column position → FIELDS index
  let hasDescription = false;
  let out: StagedRow[] = [];

  function endField(text: string) {
    let value: string | null = piece + text;
    piece = '';
    if (!quoted) {
      if (value.endsWith('\r')) value = value.slice(0, -1); // the CR of a CRLF
      if (value === '') value = null;
    }
    recordChars += (value?.length ?? 0) + 1;
    fields.push(recordChars > MAX_RECORD_CHARS ? null : value);
    quoted = false;
  }

  function endRecord() {
    const record = fields;
    const at = recordLine;
    const error = recordChars > MAX_RECORD_CHARS ? `longer than ${MAX_RECORD_CHARS} characters` : recordError;
    fields = [];
    recordChars = 0;
    recordError = null;
    recordLine = line + 1;
    if (record.length === 1 && record[0] === null && !error) return; // a blank line
    if (!columns) {
      columns = readHeader(record, at);
      return;
    }
    const row: StagedRow = { line: at, values: emptyValues(), descriptionGiven: hasDescription, rowError: error, problems: null };
    if (!error && record.length !== columns.length) {
      row.rowError = `expected ${columns.length} fields, found ${record.length}`;
    }
    if (!row.rowError) {
      for (let i = 0; i < columns.length; i++) setValue(row, columns[i]!, record[i]!);
    }
    out.push(row);
  }

  function parse(text: string) {
    let start = 0; // where the current field's text starts in this chunk
    const n = text.length;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      switch (state) {
        // biome-ignore lint/suspicious/noFallthroughSwitchClause: the character belongs to an unquoted field (below)
        case State.FieldStart:
          if (c === QUOTE) {
            state = State.Quoted;
            quoted = true;
            start = i + 1;
            break;
          }
          start = i;
          state = State.Unquoted;
        // falls through: the character belongs to an unquoted field
        case State.Unquoted:
          if (c === COMMA) {
            endField(text.slice(start, i));
            state = State.FieldStart;
          } else if (c === LF) {
            endField(text.slice(start, i));
            endRecord();
            line++;
            state = State.FieldStart;
          }
          break;
        case State.Quoted:
          if (c === QUOTE) {
            piece += text.slice(start, i);
            state = State.QuoteInQuoted;
            capPiece();
          } else if (c === LF) line++;
          break;
        case State.QuoteInQuoted:
          if (c === QUOTE) {
            piece += '"';
            start = i + 1;
            state = State.Quoted;
          } else if (c === COMMA) {
            endField('');
            state = State.FieldStart;
          } else if (c === LF) {
            endField('');
            endRecord();
            line++;
            state = State.FieldStart;
          } else if (c !== CR) {
            // Text after a closing quote: the record is malformed; read on to its end.
            recordError ??= 'unexpected text after a closing quote';
            start = i;
            state = State.Unquoted;
          }
          break;
      }
    }
    if (state === State.Unquoted || state === State.Quoted) piece += text.slice(start);
    capPiece();
  }

  /** A field that grows past the limit is dropped as it grows; the record is then refused. */
  function capPiece() {
    if (piece.length > MAX_RECORD_CHARS) {
      recordChars += piece.length;
      piece = '';
    }
  }

  function readHeader(record: (string | null)[], at: number): (number | undefined)[] {
    const problems: FileProblem[] = [];
    const seen = new Set<number>();
    const map = record.map((name) => {
      const column = (name ?? '').trim().toLowerCase();
      const index = FIELDS.indexOf(column as Field);
      if (index < 0)
        problems.push({ line: at, field: column || '(empty)', message: `unknown column; the columns are ${FIELDS.join(', ')}` });
      else if (seen.has(index)) problems.push({ line: at, field: column, message: 'column appears twice' });
      seen.add(index);
      return index < 0 ? undefined : index;
    });
    for (const column of REQUIRED_COLUMNS) {
      if (!seen.has(FIELDS.indexOf(column)))
        problems.push({ line: at, field: column, message: 'required column missing from the header' });
    }
    if (problems.length) throw new FileShapeError(problems);
    hasDescription = seen.has(FIELDS.indexOf('description'));
    return map;
  }

  return {
    push(text) {
      out = [];
      parse(text);
      return out;
    },
    end() {
      out = [];
      if (state === State.Quoted) {
        // Everything from the opening quote on was one field: report the record, keep nothing.
        recordError = 'quoted field not closed before the end of the file';
        fields.push(null);
        piece = '';
        state = State.FieldStart;
        endRecord();
      } else if (state !== State.FieldStart || fields.length > 0) {
        endField('');
        endRecord();
      }
      if (!columns) throw new FileShapeError([{ line: 1, field: 'header', message: 'the file is empty; expected a header row' }]);
      return out;
    },
  };
}

// ---------------------------------------------------------------------------
// JSONL

/** How each field may be given in JSON, as POST /products takes it. */
const JSON_TYPES: Record<Field, { accepts: (v: unknown) => boolean; message: string }> = {
  sku: { accepts: (v) => typeof v === 'string', message: 'must be a string' },
  name: { accepts: (v) => typeof v === 'string', message: 'must be a string' },
  description: { accepts: (v) => typeof v === 'string', message: 'must be a string or null' },
  price: { accepts: (v) => typeof v === 'string' || typeof v === 'number', message: 'must be a number or a decimal string' },
  quantity: { accepts: (v) => typeof v === 'number', message: 'must be a number' },
  category: { accepts: (v) => typeof v === 'string', message: 'must be a string' },
  location: { accepts: (v) => typeof v === 'string', message: 'must be a string' },
};

/** Turns one JSON line into a staging row. */
function jsonRow(text: string, line: number): StagedRow {
  const row: StagedRow = { line, values: emptyValues(), descriptionGiven: false, rowError: null, problems: null };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    row.rowError = 'not valid JSON';
    return row;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    row.rowError = 'must be a JSON object';
    return row;
  }
  for (const [key, v] of Object.entries(value)) {
    const index = FIELDS.indexOf(key as Field);
    if (key === 'description') row.descriptionGiven = true;
    if (index < 0) {
      problemsOf(row)[key.replaceAll(NUL, '\\u0000')] = 'unknown field';
    } else if (v !== null) {
      const type = JSON_TYPES[key as Field];
      if (type.accepts(v)) setValue(row, index, String(v));
      else problemsOf(row)[key] = type.message;
    }
  }
  return row;
}

/** JSON Lines: one object per line, blank lines skipped, LF or CRLF. */
export function jsonlParser(): RowParser {
  let line = 1;
  let rest = '';
  let skipping = false; // inside a line that grew too long

  function lines(text: string, final: boolean): StagedRow[] {
    const out: StagedRow[] = [];
    const tooLong = () => ({
      line,
      values: emptyValues(),
      descriptionGiven: false,
      rowError: `longer than ${MAX_RECORD_CHARS} characters`,
      problems: null,
    });
    const complete = (content: string) => {
      if (content.length > MAX_RECORD_CHARS) out.push(tooLong());
      else if (content.trim() !== '') out.push(jsonRow(content.replace(/\r$/, ''), line));
    };
    let start = 0;
    for (let lf = text.indexOf('\n'); lf >= 0; lf = text.indexOf('\n', start)) {
      if (!skipping) complete(rest + text.slice(start, lf));
      skipping = false;
      rest = '';
      start = lf + 1;
      line++;
    }
    if (!skipping) rest += text.slice(start);
    if (rest.length > MAX_RECORD_CHARS) {
      // Refuse the line now and drop the rest of it as it arrives.
      out.push(tooLong());
      rest = '';
      skipping = true;
    }
    if (final && !skipping) complete(rest);
    return out;
  }

  return {
    push: (text) => lines(text, false),
    end: () => lines('', true),
  };
}

/** The parser for a file name: .jsonl / .ndjson are JSON Lines, everything else CSV. */
export function parserFor(path: string): RowParser {
  return /\.(jsonl|ndjson)$/i.test(path) ? jsonlParser() : csvParser();
}

// ---------------------------------------------------------------------------
// COPY text format

/** The staging table's columns, in the order copyLine writes them. */
export const STAGING_COLUMNS = ['line', ...FIELDS, 'row_error', 'problems', 'description_given'] as const;

const SPECIAL = /[\\\n\r\t]/;
const SPECIALS = /[\\\n\r\t]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function copyValue(value: string | null): string {
  if (value === null) return '\\N';
  return SPECIAL.test(value) ? value.replace(SPECIALS, (c) => ESCAPES[c]!) : value;
}

/** A staging row as one line of PostgreSQL's COPY text format. */
export function copyLine(row: StagedRow): string {
  let text = String(row.line);
  for (const value of row.values) text += '\t' + copyValue(value);
  text += '\t' + copyValue(row.rowError);
  text += '\t' + (row.problems ? copyValue(JSON.stringify(row.problems)) : '\\N');
  text += row.descriptionGiven ? '\tt' : '\tf';
  return text + '\n';
}
