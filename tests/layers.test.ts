/**
 * The layers, as the README describes them: a resource's queries and model
 * know nothing of HTTP (no handlers, routes or zod schemas), and no module
 * reaches into another resource's handlers.
 */
import { describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const SRC = resolve(import.meta.dir, '../src');
const files = readdirSync(SRC, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => join(SRC, f));

/** The modules of src/ a file imports (static and type imports), as paths relative to src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm)].map((m) =>
    relative(SRC, resolve(file, '..', m[1]!)),
  );
}

const HTTP_LAYER = /\/(handlers|routes|schemas|index)\.ts$/;

describe('layers', () => {
  test('queries and models import no handlers, routes or schemas', () => {
    const lower = files.filter((f) => /\/(queries|model)\.ts$/.test(f));
    expect(lower.length).toBeGreaterThan(5);
    const offending = lower.flatMap((f) =>
      importsOf(f)
        .filter((m) => HTTP_LAYER.test(`/${m}`))
        .map((m) => `${relative(SRC, f)} imports ${m}`),
    );
    expect(offending).toEqual([]);
  });

  test("no module imports another resource's handlers", () => {
    const offending = files.flatMap((f) =>
      importsOf(f)
        .filter((m) => m.endsWith('/handlers.ts') && m.split('/')[0] !== relative(SRC, f).split('/')[0])
        .map((m) => `${relative(SRC, f)} imports ${m}`),
    );
    expect(offending).toEqual([]);
  });
});
