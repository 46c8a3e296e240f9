import { z } from '@hono/zod-openapi';

/**
 * What text may hold, and how long it is, the same in the API, the import and
 * the database (db/migrations/20261130000002_text_rules.sql: is_clean_name and
 * is_clean_text, which a test holds equal to these over every code point).
 *
 * Names (of products and categories) are one visible line: no control
 * characters (Unicode Cc), no line or paragraph separators (Zl, Zp) and no
 * invisible format characters (Cf: soft hyphen, zero-width spaces and joiners,
 * bidirectional controls, the byte order mark, tag characters, ...). The list
 * is Unicode 17's; a new Unicode version may add format characters, which a
 * test then reports. Two format characters are kept, inside a name only (not
 * first or last): the zero-width non-joiner and joiner (U+200C, U+200D), which
 * Persian and Indic scripts need to spell words and which join emoji sequences.
 */
/** The longest names, in code points. */
export const MAX_PRODUCT_NAME = 200;
export const MAX_CATEGORY_NAME = 100;

export const NAME_FORBIDDEN_RANGES: readonly (readonly [number, number])[] = [
  [0x0000, 0x001f],
  [0x007f, 0x009f],
  [0x00ad, 0x00ad],
  [0x0600, 0x0605],
  [0x061c, 0x061c],
  [0x06dd, 0x06dd],
  [0x070f, 0x070f],
  [0x0890, 0x0891],
  [0x08e2, 0x08e2],
  [0x180e, 0x180e],
  [0x200b, 0x200b],
  [0x200e, 0x200f],
  [0x2028, 0x202e],
  [0x2060, 0x2064],
  [0x2066, 0x206f],
  [0xfeff, 0xfeff],
  [0xfff9, 0xfffb],
  [0x110bd, 0x110bd],
  [0x110cd, 0x110cd],
  [0x13430, 0x1343f],
  [0x1bca0, 0x1bca3],
  [0x1d173, 0x1d17a],
  [0xe0001, 0xe0001],
  [0xe0020, 0xe007f],
];

/** Free text (descriptions, notes) may hold tab, line feed and carriage return, and no other control character. */
export const TEXT_FORBIDDEN_RANGES: readonly (readonly [number, number])[] = [
  [0x0000, 0x0008],
  [0x000b, 0x000c],
  [0x000e, 0x001f],
  [0x007f, 0x009f],
];

const hex = (n: number) => `\\u{${n.toString(16)}}`;
const charClass = (ranges: typeof NAME_FORBIDDEN_RANGES) =>
  new RegExp(`[${ranges.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join('')}]`, 'u');

const NAME_FORBIDDEN = charClass(NAME_FORBIDDEN_RANGES);
/** The joiners a name may hold, but not at either end, where they join nothing. */
const JOINER_AT_EDGE = /^[\u200c\u200d]|[\u200c\u200d]$/;
const TEXT_FORBIDDEN = charClass(TEXT_FORBIDDEN_RANGES);

export const NAME_CHARACTERS_MESSAGE = 'must not contain control characters, line separators or invisible format characters';
export const TEXT_CHARACTERS_MESSAGE = 'must not contain control characters other than tab, line feed and carriage return';
const UNICODE_MESSAGE = 'must be valid Unicode (no unpaired surrogates)';

/**
 * Length in code points, as PostgreSQL's char_length counts it (JavaScript's
 * length counts UTF-16 units: an emoji is 2 of them).
 */
export function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** Whether `s` may be a name as far as its characters go (not its length or its edges). */
export const isCleanName = (s: string) => s.isWellFormed() && !NAME_FORBIDDEN.test(s) && !JOINER_AT_EDGE.test(s);
/** Whether `s` may be free text as far as its characters go. */
export const isCleanText = (s: string) => s.isWellFormed() && !TEXT_FORBIDDEN.test(s);

/**
 * Free text a client may send (a description, a note, a filter): tab and line
 * breaks but no other control character (PostgreSQL text cannot hold NUL in
 * any case). Lengths are checked with maxChars, in code points.
 */
export const text = () =>
  z
    .string()
    .refine((s) => s.isWellFormed(), UNICODE_MESSAGE)
    .refine((s) => !TEXT_FORBIDDEN.test(s), TEXT_CHARACTERS_MESSAGE);

/** Free text of at most `max` code points. */
export const textUpTo = (max: number) =>
  text()
    .refine((s) => codePoints(s) <= max, `must be at most ${max} characters`)
    .openapi({ maxLength: max });

/**
 * A name: trimmed (JavaScript's trim, which the database's *_name_trimmed
 * checks mirror), 1 to `max` code points, one visible line.
 */
export const name = (max: number) =>
  z
    .string()
    .trim()
    .refine((s) => s.length > 0, 'must not be empty')
    .refine((s) => s.isWellFormed(), UNICODE_MESSAGE)
    .refine((s) => !NAME_FORBIDDEN.test(s) && !JOINER_AT_EDGE.test(s), NAME_CHARACTERS_MESSAGE)
    .refine((s) => codePoints(s) <= max, `must be at most ${max} characters`)
    .openapi({ minLength: 1, maxLength: max });

/** A name to look up (a filter): as a name, but neither trimmed nor required to be non-empty. */
export const nameFilter = (max: number) =>
  z
    .string()
    .refine(isCleanName, NAME_CHARACTERS_MESSAGE)
    .refine((s) => codePoints(s) <= max, `must be at most ${max} characters`)
    .openapi({ maxLength: max });
