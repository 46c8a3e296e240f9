/**
 * What names and free text may hold, counted the same way in the API, the
 * import and the database, and listings whose cursors fit whatever name is
 * stored.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import type postgres from 'postgres';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dbmate } from '../../src/cli/dbmate.ts';
import { encodeCursor, MAX_CURSOR_LENGTH } from '../../src/http/cursor.ts';
import {
  isCleanName,
  isCleanText,
  NAME_CHARACTERS_MESSAGE,
  NAME_FORBIDDEN_RANGES,
  TEXT_CHARACTERS_MESSAGE,
} from '../../src/http/text.ts';
import { importFile } from '../../src/import/import-file.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import { createTestDatabase } from '../support/db.ts';
import { expectProblem } from '../support/problem.ts';
import { json, unique } from '../support/values.ts';

let t: TestApp;
const dir = mkdtempSync(join(tmpdir(), 'inventory-names-'));
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

const EMOJI = '\u{1F600}'; // 1 code point, 2 UTF-16 units, 4 UTF-8 bytes
const patch = (id: number, body: unknown) =>
  t.request(`/products/${id}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

/** Every code point but the surrogates, which UTF-8 text cannot hold. */
/** The version of the migration that brought rows under these rules. */
const TEXT_RULES_VERSION = '20261130000002';

function* allCodePoints() {
  for (let cp = 1; cp <= 0x10ffff; cp++) if (cp < 0xd800 || cp > 0xdfff) yield cp;
}

describe('one rule for the API, the import and the database', () => {
  test("the database's is_clean_name and is_clean_text, and the check constraints, refuse exactly the code points the API refuses", async () => {
    // Over every code point: longer than the service's statement timeout on a busy machine.
    const unbounded = <T>(fn: (sql: postgres.TransactionSql) => Promise<T>) =>
      t.db.admin.begin(async (tx) => {
        await tx`SET LOCAL statement_timeout = 0`;
        return fn(tx);
      }) as Promise<T>;
    const [refused] = await unbounded(
      (sql) => sql<{ name: number[]; text: number[] }[]>`
      SELECT array_agg(cp ORDER BY cp) FILTER (WHERE NOT is_clean_name(chr(cp))) AS name,
             array_agg(cp ORDER BY cp) FILTER (WHERE NOT is_clean_text(chr(cp))) AS text
      FROM generate_series(1, 1114111) cp WHERE cp NOT BETWEEN 55296 AND 57343`,
    );
    const api = { name: [] as number[], text: [] as number[] };
    for (const cp of allCodePoints()) {
      if (!isCleanName(String.fromCodePoint(cp))) api.name.push(cp);
      if (!isCleanText(String.fromCodePoint(cp))) api.text.push(cp);
    }
    expect(refused!.name).toEqual(api.name);
    expect(refused!.text).toEqual(api.text);
    // The check constraints spell the same patterns out (a call to a function costs every insert):
    // each refuses exactly what its function refuses.
    const checks = await t.db.sql<{ name: string; expr: string }[]>`
      SELECT conname AS name, pg_get_expr(conbin, conrelid) AS expr FROM pg_constraint
      WHERE conname IN ('products_name_visible', 'categories_name_visible', 'products_description_clean', 'categories_description_clean')`;
    expect(checks.map((c) => c.name).sort()).toEqual([
      'categories_description_clean',
      'categories_name_visible',
      'products_description_clean',
      'products_name_visible',
    ]);
    const [row] = await unbounded((sql) =>
      sql.unsafe<Record<string, number[]>[]>(`
      SELECT ${checks.map((c, i) => `array_agg(cp ORDER BY cp) FILTER (WHERE NOT (${c.expr})) AS c${i}`).join(', ')}
      FROM generate_series(1, 1114111) cp, LATERAL (SELECT chr(cp) AS name, chr(cp) AS description) v
      WHERE cp NOT BETWEEN 55296 AND 57343`),
    );
    checks.forEach((check, i) => {
      expect({ check: check.name, refused: row![`c${i}`] }).toEqual({
        check: check.name,
        refused: check.name.endsWith('_name_visible') ? api.name : api.text,
      });
    });
  }, 60_000);

  test("names refuse every control, separator and format character this runtime's Unicode knows, and nothing else", () => {
    const unicode: number[] = [];
    // The joiners U+200C and U+200D are kept inside names (tested below).
    for (const cp of allCodePoints()) {
      if (cp !== 0x200c && cp !== 0x200d && /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(String.fromCodePoint(cp))) unicode.push(cp);
    }
    const listed = NAME_FORBIDDEN_RANGES.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i)).filter(
      (cp) => cp > 0,
    );
    expect(listed).toEqual(unicode);
  });
});

// A character of each kind in the middle of a name: control, C1 control, soft
// hyphen, zero-width space, left-to-right mark, bidi override, line separator,
// word joiner, byte order mark, interlinear annotation, language tag.
const FORBIDDEN_IN_NAMES = [
  '\u0001',
  '\t',
  '\n',
  '\u007f',
  '\u0085',
  '\u00ad',
  '\u200b',
  '\u200e',
  '\u202e',
  '\u2028',
  '\u2060',
  '\ufeff',
  '\ufff9',
  '\u{e0001}',
];
const hexOf = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

describe('the API', () => {
  test.each(FORBIDDEN_IN_NAMES.map((c) => [hexOf(c), c]))(
    'refuses %s in product and category names with 422, and the database refuses it too',
    async (_, c) => {
      for (const [path, body, field] of [
        ['/products', { name: `Bad${c}Name`, price: 1 }, 'name'],
        ['/products', { name: unique('Fine'), price: 1, category: `Bad${c}Category` }, 'category'],
        ['/categories', { name: `Bad${c}Category` }, 'name'],
      ] as const) {
        const problem = await expectProblem(await t.post(path, body), 422, 'validation_failed');
        expect(problem.errors).toEqual([{ path: field, message: NAME_CHARACTERS_MESSAGE }]);
      }
      const [category] = await t.db.sql<{ id: number }[]>`
      INSERT INTO categories (name) VALUES (${unique('Names')}) RETURNING id`;
      await expect(
        t.db
          .sql`INSERT INTO products (sku, name, price, category_id) VALUES (${unique('SKU').replace(' ', '-')}, ${`Bad${c}Name`}, 1, ${category!.id})`,
      ).rejects.toMatchObject({ code: '23514', constraint_name: 'products_name_visible' });
      await expect(t.db.sql`INSERT INTO categories (name) VALUES (${`Bad${c}Category`})`).rejects.toMatchObject({
        code: '23514',
        constraint_name: 'categories_name_visible',
      });
    },
  );

  test('keeps the zero-width non-joiner and joiner inside a name, and refuses them at either end', async () => {
    const family = `Family \u{1F468}\u200d\u{1F469}\u200d\u{1F467} ${unique('Mug')}`;
    const persian = `\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 ${unique('Tea')}`;
    for (const name of [family, persian]) {
      const res = await t.post('/products', { name, price: 1 });
      expect(res.status).toBe(201);
      expect((await json(res)).name).toBe(name);
    }
    for (const name of [`\u200d${unique('Edge')}`, `${unique('Edge')}\u200c`]) {
      const problem = await expectProblem(await t.post('/products', { name, price: 1 }), 422, 'validation_failed');
      expect(problem.errors).toEqual([{ path: 'name', message: NAME_CHARACTERS_MESSAGE }]);
    }
    const [category] = await t.db.sql<{ id: number }[]>`SELECT id FROM categories LIMIT 1`;
    await expect(
      t.db
        .sql`INSERT INTO products (sku, name, price, category_id) VALUES (${unique('SKU').replace(' ', '-')}, ${'Edge\u200d'}, 1, ${category!.id})`,
    ).rejects.toMatchObject({ code: '23514', constraint_name: 'products_name_visible' });
  });

  test('refuses a name holding an unpaired surrogate with 422', async () => {
    const res = await t.request('/products', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name": "Half \\ud83d pair", "price": 1}',
    });
    const problem = await expectProblem(res, 422, 'validation_failed');
    expect(problem.errors.map((e: { path: string }) => e.path)).toEqual(['name']);
  });

  test('descriptions keep tab, line feed, carriage return and format characters, and refuse other control characters', async () => {
    const kept = 'line one\r\nline two\ttabbed, soft\u00adhyphen, zero\u200bwidth';
    const res = await t.post('/products', { name: unique('Described'), price: 1, description: kept });
    expect(res.status).toBe(201);
    const product = await json(res);
    expect(product.description).toBe(kept);
    for (const c of ['\u0001', '\u000b', '\u001b', '\u007f', '\u0085']) {
      const problem = await expectProblem(await patch(product.id, { description: `bell${c}` }), 422, 'validation_failed');
      expect(problem.errors).toEqual([{ path: 'description', message: TEXT_CHARACTERS_MESSAGE }]);
      const category = await expectProblem(
        await t.post('/categories', { name: unique('Described'), description: `x${c}` }),
        422,
        'validation_failed',
      );
      expect(category.errors.map((e: { path: string }) => e.path)).toEqual(['description']);
      await expect(t.db.sql`UPDATE products SET description = ${`bell${c}`} WHERE id = ${product.id}`).rejects.toMatchObject({
        code: '23514',
        constraint_name: 'products_description_clean',
      });
    }
    const note = await expectProblem(
      await t.post(`/products/${product.id}/stock-adjustments`, { delta: 1, reason: 'received', note: 'esc\u001b' }),
      422,
      'validation_failed',
    );
    expect(note.errors).toEqual([{ path: 'note', message: TEXT_CHARACTERS_MESSAGE }]);
  });

  test('counts lengths in code points, as the database does: 200 emoji are a name, 201 are not', async () => {
    const longest = EMOJI.repeat(200);
    expect(longest.length).toBe(400); // UTF-16 units
    const res = await t.post('/products', {
      name: longest,
      price: 1,
      category: '\u{1F4E6}'.repeat(100),
      description: EMOJI.repeat(2000),
    });
    expect(res.status).toBe(201);
    const product = await json(res);
    expect(product.name).toBe(longest);
    const tooLong = await expectProblem(
      await t.post('/products', { name: `${longest}!`, price: 1, category: '\u{1F4E6}'.repeat(101) }),
      422,
      'validation_failed',
    );
    expect(tooLong.errors).toEqual([
      { path: 'name', message: 'must be at most 200 characters' },
      { path: 'category', message: 'must be at most 100 characters' },
    ]);
    const [stored] = await t.db.sql<{ n: number }[]>`SELECT char_length(name) AS n FROM products WHERE id = ${product.id}`;
    expect(stored!.n).toBe(200);
    expect((await patch(product.id, { name: `${EMOJI.repeat(199)}!` })).status).toBe(200);
    await expectProblem(await patch(product.id, { description: EMOJI.repeat(2001) }), 422, 'validation_failed');
    // A category filter as long as the longest category name is a filter.
    const listed = await t.request(`/products?category=${encodeURIComponent('\u{1F4E6}'.repeat(100))}`);
    expect(listed.status).toBe(200);
    expect((await json(listed)).map((p: { id: number }) => p.id)).toEqual([product.id]);
  });
});

describe('the import', () => {
  test("refuses the same characters, with the API's messages, and counts code points", async () => {
    const path = join(mkdtempSync(join(dir, 'f-')), 'names.jsonl');
    writeFileSync(
      path,
      [
        { sku: 'NAMES-1', name: 'Zero\u200bwidth', price: 1 },
        { sku: 'NAMES-2', name: 'Fine import name', price: 1, category: 'Bidi\u202eCategory', description: 'bell\u0007' },
        {
          sku: 'NAMES-3',
          name: EMOJI.repeat(200),
          price: 1,
          category: '\u{1F4E6}'.repeat(100),
          description: 'tab\tand\r\nlines',
        },
        { sku: 'NAMES-4', name: EMOJI.repeat(201), price: 1 },
      ]
        .map((o) => JSON.stringify(o))
        .join('\n'),
    );
    const result = await importFile(t.db.sql, path, { skipInvalid: true });
    expect(result.invalid).toEqual([
      { line: 1, field: 'name', message: NAME_CHARACTERS_MESSAGE },
      { line: 2, field: 'description', message: TEXT_CHARACTERS_MESSAGE },
      { line: 2, field: 'category', message: NAME_CHARACTERS_MESSAGE },
      { line: 4, field: 'name', message: 'must be at most 200 characters' },
    ]);
    expect(result.inserted).toBe(1);
  });
});

describe('listing cursors', () => {
  test('the cursor limit is the length of the longest cursor the service can write', () => {
    // 200 code points of 4 UTF-8 bytes, the longest sort label, the largest id.
    const longest = encodeCursor('archived:-created_at', ['\u{10FFFD}'.repeat(200), Number.MAX_SAFE_INTEGER]);
    expect(longest.length).toBe(MAX_CURSOR_LENGTH);
    // Quotes and backslashes are escaped to 2 bytes, fewer than an emoji takes.
    expect(encodeCursor('archived:-created_at', ['"\\'.repeat(100), Number.MAX_SAFE_INTEGER]).length).toBeLessThan(
      MAX_CURSOR_LENGTH,
    );
  });

  test('the longest name at the largest id gives a next link the listing accepts', async () => {
    const longest = '\u{1F9F0}'.repeat(200);
    const [category] = await t.db.sql<{ id: number }[]>`INSERT INTO categories (name) VALUES ('Cursor Edge') RETURNING id`;
    await t.db.sql`
      INSERT INTO products (id, sku, name, price, category_id, archived_at) OVERRIDING SYSTEM VALUE
      VALUES (${Number.MAX_SAFE_INTEGER}, 'EDGE-1', ${longest}, 1, ${category!.id}, now()),
             (${Number.MAX_SAFE_INTEGER - 1}, 'EDGE-2', ${longest}, 1, ${category!.id}, now())`;
    for (const sort of ['-name', 'name']) {
      const first = await t.request(`/products?archived=true&category=Cursor%20Edge&sort=${sort}&limit=1`);
      expect(first.status).toBe(200);
      const next = /^<([^>]+)>; rel="next"$/.exec(first.headers.get('link') ?? '')![1]!;
      expect(new URL(next, 'http://x').searchParams.get('cursor')!.length).toBeLessThanOrEqual(MAX_CURSOR_LENGTH);
      const second = await t.request(next);
      expect(second.status).toBe(200);
      expect((await json(second)).map((p: { sku: string }) => p.sku)).toEqual(sort === 'name' ? ['EDGE-1'] : ['EDGE-2']);
    }
  });
});

describe('listing by name, property-based', () => {
  let walker: TestApp;
  beforeAll(async () => {
    walker = await createTestApp();
  });
  afterAll(async () => {
    await walker?.close();
  });

  /** Pieces names are made of: emoji (with modifiers and flags), quotes, backslashes, combining marks, case pairs. */
  const piece = fc.oneof(
    fc.constantFrom('\u{1F600}', '\u{1F44D}\u{1F3FD}', '\u{1F1EB}\u{1F1F7}', '\u{1F9F0}', '\u2764\ufe0f'),
    fc.constantFrom('"', '\\', "'", '\\"', '`', '<', '&', '%', '+', '/', '?', '#'),
    fc.constantFrom('e\u0301', '\u0301', 'a\u0308\u0323', '\u0915\u094d'),
    fc.constantFrom('a', 'A', 'z', 'Z', '0', ' ', 'ß', 'İ', 'ı', 'ǅ', 'Σ', 'ς', '漢', 'ﬃ', 'Ω'),
  );
  const storedName = fc
    .oneof(
      { weight: 6, arbitrary: fc.array(piece, { minLength: 1, maxLength: 12 }).map((p) => p.join('')) },
      // The longest names: 200 code points, of 4 UTF-8 bytes or of escaped quotes.
      { weight: 1, arbitrary: fc.constantFrom(EMOJI.repeat(200), '\\'.repeat(200), '"'.repeat(199) + 'x') },
    )
    .map((s) => [...s.trim()].slice(0, 200).join('').trim())
    .filter((s) => s.length > 0);

  async function walk(path: string): Promise<number[]> {
    const ids: number[] = [];
    let next: string | null = path;
    for (let pages = 0; next !== null; pages++) {
      if (pages > 100) throw new Error(`more than 100 pages from ${path}`);
      const res = await walker.request(next);
      expect(res.status).toBe(200);
      ids.push(...(await json(res)).map((p: { id: number }) => p.id));
      next = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
    }
    return ids;
  }

  test('following every next link of name and -name, active and archived, visits every product exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ name: storedName, archived: fc.boolean() }), { minLength: 1, maxLength: 14 }),
        fc.integer({ min: 1, max: 4 }),
        async (products, limit) => {
          await walker.db.sql`DELETE FROM products`;
          const active: number[] = [];
          const archived: number[] = [];
          for (const p of products) {
            const res = await walker.post('/products', { name: p.name, price: 1 });
            if (res.status === 409) continue; // the same name as an active one, in another case
            expect(res.status).toBe(201);
            const { id } = await json(res);
            if (p.archived) {
              expect((await walker.request(`/products/${id}`, { method: 'DELETE' })).status).toBe(204);
              archived.push(id);
            } else {
              active.push(id);
            }
          }
          const sorted = (ids: number[]) => [...ids].sort((a, b) => a - b);
          for (const sort of ['name', '-name']) {
            expect(sorted(await walk(`/products?sort=${sort}&limit=${limit}`))).toEqual(sorted(active));
            expect(sorted(await walk(`/products?archived=true&sort=${sort}&limit=${limit}`))).toEqual(sorted(archived));
          }
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);
});

describe('the migration, on rows written before these rules', () => {
  test('rewrites names and descriptions to follow them, keeping names unique', async () => {
    const db = await createTestDatabase();
    try {
      // Back to before this rule's migration.
      const applied = async () =>
        (await db.admin<{ version: string }[]>`SELECT version FROM schema_migrations`).map((r) => r.version);
      while ((await applied()).includes(TEXT_RULES_VERSION)) await dbmate(db.adminUrl, ['rollback'], true);
      const [c] = await db.sql<{ id: number }[]>`
        INSERT INTO categories (name, description) VALUES (${'Tools\u200b'}, ${'bell\u0007'}), ('Tools', NULL), (${'\u0007'}, NULL) RETURNING id`;
      await db.sql`
        INSERT INTO products (sku, name, description, price, category_id, archived_at) VALUES
          ('M-1', ${'Tab\tName\u00ad'}, ${'x\u0001y\r\nz'}, 1, ${c!.id}, NULL),
          ('M-2', 'Tab Name', NULL, 1, ${c!.id}, NULL),
          ('M-3', ${'Tab\u2028\u2029Name'}, NULL, 1, ${c!.id}, NULL),
          ('M-4', ${'\u200b\u200d'}, NULL, 1, ${c!.id}, NULL),
          ('M-8', ${'Fa\u200cmily \u{1F468}\u200d\u{1F469}\u200b'}, NULL, 1, ${c!.id}, NULL),
          ('M-5', ${'Tab\nName'}, NULL, 1, ${c!.id}, now()),
          ('M-6', ${`${'n'.repeat(199)}\u0001`}, NULL, 1, ${c!.id}, NULL),
          ('M-7', ${'n'.repeat(199)}, NULL, 1, ${c!.id}, NULL)`;
      await dbmate(db.adminUrl, ['up'], true);
      const products = await db.sql<{ sku: string; id: number; name: string; description: string | null }[]>`
        SELECT sku, id, name, description FROM products ORDER BY sku`;
      const id = (sku: string) => products.find((p) => p.sku === sku)!.id;
      expect(products.map(({ sku, name, description }) => ({ sku, name, description }))).toEqual([
        { sku: 'M-1', name: `Tab Name (${id('M-1')})`, description: 'x y\r\nz' },
        { sku: 'M-2', name: 'Tab Name', description: null },
        { sku: 'M-3', name: `Tab Name (${id('M-3')})`, description: null },
        { sku: 'M-4', name: `Product ${id('M-4')}`, description: null },
        { sku: 'M-5', name: 'Tab Name', description: null }, // archived: names may repeat
        { sku: 'M-6', name: `${'n'.repeat(200 - ` (${id('M-6')})`.length)} (${id('M-6')})`, description: null },
        { sku: 'M-7', name: 'n'.repeat(199), description: null },
        { sku: 'M-8', name: 'Fa\u200cmily \u{1F468}\u200d\u{1F469}', description: null }, // joiners inside are kept
      ]);
      const categories = await db.sql<{ id: number; name: string; description: string | null }[]>`
        SELECT id, name, description FROM categories ORDER BY id`;
      expect(categories.map(({ name, description }) => ({ name, description }))).toEqual([
        { name: `Tools (${categories[0]!.id})`, description: 'bell ' },
        { name: 'Tools', description: null },
        { name: `Category ${categories[2]!.id}`, description: null },
      ]);
    } finally {
      await db.drop();
    }
  });
});
