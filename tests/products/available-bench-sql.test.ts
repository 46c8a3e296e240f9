/**
 * The benchmark runs the service's SQL (bench/sql/*.sql under pgbench, and the bare
 * reference server, bench/reference-app.ts): wherever they show a product's
 * `available`, it is the service's expression, AVAILABLE_SQL, word for word.
 */
import { expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../src/cli/paths.ts';
import { AVAILABLE_SQL } from '../../src/products/queries.ts';

const words = (text: string) => text.replace(/\s+/g, ' ');
const count = (text: string, part: string) => text.split(part).length - 1;

const FILES = [
  ...readdirSync(join(ROOT, 'bench/sql'))
    .filter((f) => f.endsWith('.sql'))
    .map((f) => `bench/sql/${f}`),
  'bench/reference-app.ts',
];

test.each(FILES)("%s shows a product's available only as the service does", (file) => {
  const text = words(readFileSync(join(ROOT, file), 'utf8'));
  const available = words(AVAILABLE_SQL);
  expect(count(text, available)).toBe(count(text, ' AS available'));
  // And reads a product's reservations nowhere else.
  for (const reading of ['product_reserved(', 'FROM reservations r WHERE r.product_id = p.id']) {
    expect(count(text, reading)).toBe(count(available, reading) * count(text, available));
  }
});
