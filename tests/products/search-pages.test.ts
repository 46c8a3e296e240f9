/**
 * Following every rel=next of a search visits each match once, in the order
 * of the search, also while products are being added between the pages:
 * random catalogs, searches, page sizes and additions from a seeded generator
 * (the seed is in the test name, so a failure can be replayed).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';
import type { Product } from '../support/types.ts';

/** A small seeded generator (mulberry32): the same seed, the same catalog and walk. */
function generator(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]! };
}

// Words that make every tier happen: exact and prefix SKUs, SKU infixes, name words with and
// without accents, words that are one letter from a query word, description-only matches.
const ADJECTIVES = ['Wireless', 'Wirless', 'Optical', 'Café', 'Cafe', 'Compact', 'Mini', 'Wired'] as const;
const NOUNS = ['Mouse', 'Mice', 'Mousepad', 'Keyboard', 'Kettle', 'Lamp'] as const;
const DESCRIPTIONS = [null, 'Works with any wireless mouse', 'A compact kettle', 'Cafe style', 'Plain'] as const;
const SKU_PARTS = ['WL', 'WLS', 'OPT', 'CAF', 'KB', 'MOU'] as const;
/** Words only added while walking: new words in use, some one letter from a query word. */
const NEW_ADJECTIVES = ['Wirelesss', 'Wireles', 'Optica', 'Kafe', 'Compakt'] as const;
const QUERIES = [
  'wireless mouse',
  'mouse',
  'WL-MOU',
  'cafe',
  'compact kettle',
  'wirless',
  'MOU-WL',
  'keybord',
  'optical',
] as const;
const PREFIXES = ['WL', 'WL-M', 'MOU', 'CAF-', 'K'] as const;

let t: TestApp;
let serial = 0;

beforeAll(async () => {
  t = await createTestApp();
});

afterAll(async () => {
  await t?.close();
});

type Rng = ReturnType<typeof generator>;

async function addProduct(rng: Rng, adjectives: readonly string[], category: string): Promise<void> {
  serial++;
  const name = `${rng.pick(adjectives)} ${rng.pick(NOUNS)} ${serial}`;
  const sku = `${rng.pick(SKU_PARTS)}-${rng.pick(SKU_PARTS)}-${rng.pick(NOUNS).slice(0, 3).toUpperCase()}${serial}`;
  const res = await t.post('/products', { name, sku, description: rng.pick(DESCRIPTIONS), price: 1, category });
  expect(res.status).toBe(201);
}

/** Every page from `path` on; `between` runs before each following page is asked for. */
async function walk(path: string, between: () => Promise<void>): Promise<number[]> {
  const ids: number[] = [];
  let next: string | null = path;
  for (let pages = 0; next !== null; pages++) {
    if (pages > 500) throw new Error(`more than 500 pages from ${path}`);
    const res = await t.request(next);
    expect(res.status, next).toBe(200);
    ids.push(...((await res.json()) as Product[]).map((p) => p.id));
    next = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
    if (next !== null) await between();
  }
  return ids;
}

async function all(query: string): Promise<number[]> {
  const res = await t.request(`/products?${query}&limit=1000`);
  expect(res.status).toBe(200);
  expect(res.headers.get('link')).toBeNull();
  return ((await res.json()) as Product[]).map((p) => p.id);
}

/** Walks `query` page by page while products are added, and checks what it visited against one page read before. */
async function checkWalk(rng: Rng, query: string, category: string) {
  const before = await all(query);
  // Products are added before each of the first pages only, so that the walk catches up with them.
  let additions = 12;
  const visited = await walk(`/products?${query}&limit=${1 + rng.int(7)}`, async () => {
    for (let i = rng.int(3); i > 0 && additions > 0; i--, additions--) {
      await addProduct(rng, rng.next() < 0.5 ? NEW_ADJECTIVES : ADJECTIVES, category);
    }
  });
  expect(new Set(visited).size, `${query}: no product twice`).toBe(visited.length);
  const seen = new Set(visited);
  expect(
    before.filter((id) => !seen.has(id)),
    `${query}: every match from before the walk`,
  ).toEqual([]);
  // The matches from before keep their order: the added ones only come in between.
  const kept = new Set(before);
  expect(
    visited.filter((id) => kept.has(id)),
    `${query}: in the search's order`,
  ).toEqual(before);
  // What the walk saw is what one page shows now, less what was added behind its position.
  const after = new Set(await all(query));
  expect(
    visited.filter((id) => !after.has(id)),
    `${query}: only matches`,
  ).toEqual([]);
}

describe('following rel=next while products are added', () => {
  // Each seed in a category of its own (searched within it), so that the catalogs do not add up.
  for (const seed of [1, 2, 3, 4]) {
    test(`searches and SKU prefixes, seed ${seed}`, async () => {
      const rng = generator(seed);
      const category = `Walk ${seed}`;
      for (let i = 0; i < 40; i++) await addProduct(rng, ADJECTIVES, category);
      const within = `&category=${encodeURIComponent(category)}`;
      for (let round = 0; round < 3; round++) {
        await checkWalk(rng, `q=${encodeURIComponent(rng.pick(QUERIES))}${within}`, category);
        await checkWalk(rng, `sku_prefix=${encodeURIComponent(rng.pick(PREFIXES))}${within}`, category);
      }
    }, 60_000);
  }
});
