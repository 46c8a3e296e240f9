/**
 * Product search (GET /products?q=) and SKU prefixes (?sku_prefix=) on a fixed
 * catalog: what matches, in which order, how pages follow each other, and what
 * is refused.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { SEARCH_MAX_LENGTH, SEARCH_MAX_WORDS } from '../../src/products/model.ts';
import { createTestApp, type TestApp } from '../support/app.ts';
import type { Product } from '../support/types.ts';

let t: TestApp;

/** The fixed catalog, by a short name the tests use. */
const CATALOG = {
  mouse: { sku: 'ELEC-WL-MOUSE', name: 'Wireless Optical Mouse', description: '2.4 GHz receiver', category: 'Electronics' },
  mousePro: { sku: 'ELEC-WL-MOUSE-PRO', name: 'Wireless Mouse Pro', description: 'Silent buttons', category: 'Electronics' },
  keyboard: {
    sku: 'ELEC-KB-01',
    name: 'Mechanical Keyboard',
    description: 'Pairs with any wireless mouse',
    category: 'Electronics',
  },
  pad: { sku: 'OFF-XWL-MOUSEPAD', name: 'Desk Pad', description: null, category: 'Office' },
  cups: { sku: 'KIT-CAFE-01', name: 'Café Crème Cups', description: 'Porcelain, set of two', category: 'Kitchen' },
  kettle: { sku: 'KIT-KETTLE', name: 'Electric Kettle', description: 'Stainless steel', category: 'Kitchen' },
  underscore: { sku: 'A_B-1', name: 'Underscore Part', description: null, category: 'Office' },
  lookalike: { sku: 'AXB-1', name: 'Lookalike Part', description: null, category: 'Office' },
  charger: { sku: 'ELEC-WL-CHARGER', name: 'Wireless Charger', description: null, category: 'Electronics' },
} as const;
type Key = keyof typeof CATALOG;
const id: Record<Key, number> = {} as Record<Key, number>;

beforeAll(async () => {
  t = await createTestApp();
  for (const [key, p] of Object.entries(CATALOG)) {
    const res = await t.post('/products', { ...p, price: 10 });
    expect(res.status).toBe(201);
    id[key as Key] = ((await res.json()) as Product).id;
  }
  expect((await t.request(`/products/${id.charger}`, { method: 'DELETE' })).status).toBe(204);
});

afterAll(async () => {
  await t?.close();
});

async function search(query: string): Promise<number[]> {
  const res = await t.request(`/products?${query}`);
  expect(res.status, `GET /products?${query}`).toBe(200);
  return ((await res.json()) as Product[]).map((p) => p.id);
}

const q = (text: string, more = '') => search(`q=${encodeURIComponent(text)}${more}`);
const ids = (...keys: Key[]) => keys.map((k) => id[k]);

describe('GET /products?q= finds', () => {
  test('the exact SKU first, then SKUs that start with it, whatever the case', async () => {
    expect(await q('elec-wl-mouse')).toEqual(ids('mouse', 'mousePro'));
    expect(await q('ELEC-WL-MOUSE-PRO')).toEqual(ids('mousePro'));
  });

  test('SKUs that start with the text, shorter first', async () => {
    expect(await q('ELEC-WL')).toEqual(ids('mouse', 'mousePro'));
  });

  test('SKUs that contain the text anywhere', async () => {
    expect((await q('WL-MOU')).sort()).toEqual(ids('mouse', 'mousePro', 'pad').sort());
    expect(await q('MOUSEPAD')).toEqual(ids('pad'));
  });

  test('a word of the name, or the start of one', async () => {
    expect(await q('keyboard')).toEqual(ids('keyboard'));
    expect(await q('Keyb')).toEqual(ids('keyboard'));
    expect(await q('kettle')).toEqual(ids('kettle'));
  });

  test('two words in any order; a match in the description only comes after the name matches', async () => {
    for (const text of ['wireless mouse', 'mouse wireless', 'MOUSE   Wireless']) {
      const found = await q(text);
      expect(found.slice(0, 2).sort(), text).toEqual(ids('mouse', 'mousePro').sort());
      expect(found.slice(2), text).toEqual(ids('keyboard'));
    }
  });

  test('words of the name and of the description together', async () => {
    expect(await q('kettle stainless')).toEqual(ids('kettle'));
    expect(await q('cups porcelain')).toEqual(ids('cups'));
  });

  test('without regard to accents, on either side', async () => {
    expect(await q('cafe')).toEqual(ids('cups'));
    expect(await q('CAFÉ crème')).toEqual(ids('cups'));
    expect(await q('creme cafe')).toEqual(ids('cups'));
    // Decomposed input (e + combining acute) is composed first.
    expect(await q('cafe\u0301')).toEqual(ids('cups'));
  });

  test('a word with one letter wrong, missing or extra', async () => {
    expect((await q('wirless mouse')).slice(0, 2).sort()).toEqual(ids('mouse', 'mousePro').sort());
    expect(await q('keybaord')).toEqual(ids('keyboard'));
    expect(await q('mechannical')).toEqual(ids('keyboard'));
    expect(await q('kettel')).toEqual(ids('kettle'));
  });

  test('a misspelled word of a name written later (the list of words in use follows edits)', async () => {
    const res = await t.post('/products', { sku: 'KIT-SAMOVAR', name: 'Brass Samovar', price: 5, category: 'Kitchen' });
    const samovar = ((await res.json()) as Product).id;
    expect(await q('samovr')).toEqual([samovar]);
    const edit = await t.request(`/products/${samovar}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Brass Percolator' }),
    });
    expect(edit.status).toBe(200);
    expect(await q('percolatr')).toEqual([samovar]);
    expect(await q('samovr')).toEqual([]);
    expect((await t.request(`/products/${samovar}`, { method: 'DELETE' })).status).toBe(204);
  });

  test('nothing when nothing matches', async () => {
    expect(await q('zebra')).toEqual([]);
    expect(await q('wireless zebra')).toEqual([]);
    expect(await q('NOPE-123')).toEqual([]);
  });

  test('within a category, and among archived products when asked', async () => {
    expect(await q('wireless', '&category=kitchen')).toEqual([]);
    expect((await q('wireless', '&category=Electronics')).sort()).toEqual(ids('mouse', 'mousePro', 'keyboard').sort());
    expect(await q('charger')).toEqual([]);
    expect(await q('charger', '&archived=true')).toEqual(ids('charger'));
    expect(await q('ELEC-WL-CHARGER', '&archived=true')).toEqual(ids('charger'));
  });

  test('pages by relevance: following rel=next visits the same products, in the same order, as one page', async () => {
    const all = await q('wireless mouse');
    expect(all.length).toBe(3);
    const walked: number[] = [];
    let next: string | null = `/products?q=${encodeURIComponent('wireless mouse')}&limit=1`;
    while (next) {
      const res = await t.request(next);
      expect(res.status).toBe(200);
      walked.push(...((await res.json()) as Product[]).map((p) => p.id));
      next = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
    }
    expect(walked).toEqual(all);
  });
});

describe('GET /products?sku_prefix= lists', () => {
  test('the SKUs that start with the prefix, case-insensitively, in SKU order', async () => {
    expect(await search('sku_prefix=ELEC')).toEqual(ids('keyboard', 'mouse', 'mousePro'));
    expect(await search('sku_prefix=elec-wl-m')).toEqual(ids('mouse', 'mousePro'));
    expect(await search('sku_prefix=ELEC-WL-MOUSE-PRO')).toEqual(ids('mousePro'));
    expect(await search('sku_prefix=E')).toEqual(ids('keyboard', 'mouse', 'mousePro'));
    expect(await search('sku_prefix=ZZZ')).toEqual([]);
  });

  test('takes _ and . as themselves, not as wildcards', async () => {
    expect(await search('sku_prefix=a_b')).toEqual(ids('underscore'));
    expect(await search('sku_prefix=a')).toEqual(ids('underscore', 'lookalike'));
  });

  test('within a category, among archived products when asked, page by page', async () => {
    expect(await search('sku_prefix=KIT&category=Kitchen')).toEqual(ids('cups', 'kettle'));
    expect(await search('sku_prefix=KIT&category=Office')).toEqual([]);
    expect(await search('sku_prefix=ELEC-WL-C')).toEqual([]);
    expect(await search('sku_prefix=ELEC-WL-C&archived=true')).toEqual(ids('charger'));
    const first = await t.request('/products?sku_prefix=ELEC&limit=2');
    expect(((await first.json()) as Product[]).map((p) => p.id)).toEqual(ids('keyboard', 'mouse'));
    const next = /^<([^>]+)>; rel="next"$/.exec(first.headers.get('link') ?? '')?.[1];
    expect(next).toBeDefined();
    const second = await t.request(next!);
    expect(((await second.json()) as Product[]).map((p) => p.id)).toEqual(ids('mousePro'));
    expect(second.headers.get('link')).toBeNull();
  });
});

describe('refused with 422 validation_failed, naming the parameter', () => {
  const cases: [string, string, string][] = [
    ['q=ab', 'q', 'letters or digits in a row'],
    ['q=', 'q', 'letters or digits in a row'],
    ['q=%20%20%20', 'q', 'letters or digits in a row'],
    ['q=a%20b%20c%20d', 'q', 'letters or digits in a row'],
    ['q=a-b-c', 'q', 'letters or digits in a row'],
    [`q=${encodeURIComponent(Array.from({ length: SEARCH_MAX_WORDS + 1 }, (_, i) => `word${i}`).join(' '))}`, 'q', 'words'],
    [`q=${'x'.repeat(SEARCH_MAX_LENGTH + 1)}`, 'q', `at most ${SEARCH_MAX_LENGTH} characters`],
    ['q=mouse%00', 'q', 'control characters'],
    ['q=mouse%1B', 'q', 'control characters'],
    ['q=mouse&sort=price', 'q', 'sort'],
    ['q=mouse&sku=ELEC-KB-01', 'q', 'sku'],
    ['q=mouse&sku_prefix=ELEC', 'q', 'sku_prefix'],
    ['sku_prefix=ELEC&sort=name', 'sku_prefix', 'sort'],
    ['sku_prefix=ELEC&sku=ELEC-KB-01', 'sku_prefix', 'sku'],
    ['sku_prefix=-EL', 'sku_prefix', 'start of a SKU'],
    ['sku_prefix=EL%20C', 'sku_prefix', 'start of a SKU'],
    ['sku_prefix=', 'sku_prefix', 'start of a SKU'],
    [`sku_prefix=${'A'.repeat(65)}`, 'sku_prefix', 'start of a SKU'],
  ];
  for (const [query, path, message] of cases) {
    test(query.length > 60 ? `${query.slice(0, 60)}...` : query, async () => {
      const res = await t.request(`/products?${query}`);
      expect(res.status).toBe(422);
      expect(res.headers.get('content-type')).toStartWith('application/problem+json');
      const body = (await res.json()) as { code: string; errors: { path: string; message: string }[] };
      expect(body.code).toBe('validation_failed');
      const error = body.errors.find((e) => e.path === path);
      expect(error?.message, JSON.stringify(body.errors)).toContain(message);
    });
  }

  test('a cursor of another listing, or a forged rank', async () => {
    const listing = await t.request('/products?limit=1');
    const cursor = new URL(`http://x${/^<([^>]+)>/.exec(listing.headers.get('link')!)![1]}`).searchParams.get('cursor')!;
    for (const path of [
      `/products?q=mouse&cursor=${cursor}`,
      `/products?sku_prefix=ELEC&cursor=${cursor}`,
      `/products?q=mouse&cursor=${Buffer.from(JSON.stringify(['search', 'x', 1])).toString('base64url')}`,
      `/products?q=mouse&cursor=${Buffer.from(JSON.stringify(['search', '12', 1])).toString('base64url')}`,
      `/products?q=mouse&archived=true&cursor=${Buffer.from(JSON.stringify(['search', '4.5', 1])).toString('base64url')}`,
      `/products?sku_prefix=ELEC&cursor=${Buffer.from(JSON.stringify(['sku', 'ELEC-KB-01', 1])).toString('base64url')}`,
    ]) {
      const res = await t.request(path);
      expect(res.status, path).toBe(422);
      expect(((await res.json()) as { errors: { path: string }[] }).errors[0]!.path).toBe('cursor');
    }
  });
});
