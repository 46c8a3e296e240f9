import { NAME_FORBIDDEN_RANGES } from './text.ts';

const codePoint = (n: number) => `\\u{${n.toString(16)}}`;
const ranges = (list: readonly (readonly [number, number])[]) =>
  list.map(([a, b]) => (a === b ? codePoint(a) : `${codePoint(a)}-${codePoint(b)}`)).join('');

/** Characters a name may not hold anywhere: the forbidden ones, and lone surrogates (not Unicode). */
const FORBIDDEN = `${ranges(NAME_FORBIDDEN_RANGES)}${codePoint(0xd800)}-${codePoint(0xdfff)}`;

/**
 * The JSON Schema pattern (ECMA-262, Unicode mode) of what `name(max)` in
 * text.ts accepts: whitespace around it (it is trimmed), then 1 to `max` code
 * points, none of them forbidden, the first and last neither whitespace nor a
 * joiner (U+200C, U+200D). A test holds the two equal.
 */
export function namePattern(max: number): string {
  const edge = `[^\\s${FORBIDDEN}\\u{200c}\\u{200d}]`;
  return `^\\s*(?:${edge}|${edge}[^${FORBIDDEN}]{0,${max - 2}}${edge})\\s*$`;
}

/** The description that goes with the pattern. */
export const nameDescription = (max: number) =>
  `Trimmed of leading and trailing whitespace, then 1 to ${max} characters (code points) on one visible line: ` +
  'no control characters, line separators or invisible format characters; the zero-width (non-)joiner only inside.';
