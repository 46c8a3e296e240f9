import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, type TestApp } from '../support/app.ts';
import { expectProblem } from '../support/problem.ts';
import { json } from '../support/values.ts';
import { allPages, createLocation, createProduct, del, patch, receive, uniqueCode, type Location } from './support.ts';

let t: TestApp;
let defaultId: number;
beforeAll(async () => {
  t = await createTestApp();
  defaultId = (await t.db.sql<{ id: number }[]>`SELECT default_location() AS id`)[0]!.id;
});
afterAll(async () => {
  await t?.close();
});

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

async function locationCount(): Promise<number> {
  return (await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM locations`)[0]!.n;
}

async function archivedAt(id: number): Promise<string | null> {
  return (await t.db.sql<{ archived_at: string | null }[]>`SELECT archived_at FROM locations WHERE id = ${id}`)[0]!.archived_at;
}

describe('POST /locations', () => {
  test('answers 201 with the stored location and its Location header', async () => {
    const res = await t.post('/locations', { code: 'WH-North.1_a', name: '  North warehouse ' });
    expect(res.status).toBe(201);
    const body = (await json(res)) as Location;
    expect(body).toEqual({
      id: expect.any(Number),
      code: 'WH-North.1_a',
      name: 'North warehouse',
      is_default: false,
      created_at: expect.stringMatching(TIMESTAMP),
      updated_at: expect.stringMatching(TIMESTAMP),
      archived_at: null,
    });
    expect(res.headers.get('location')).toBe(`/locations/${body.id}`);
    const [row] = await t.db.sql`SELECT code, name FROM locations WHERE id = ${body.id}`;
    expect(row).toEqual({ code: 'WH-North.1_a', name: 'North warehouse' });
  });

  test('refuses a code taken in another case with 409 duplicate_location, and writes nothing', async () => {
    const code = uniqueCode('Dup');
    await createLocation(t, code);
    const before = await locationCount();
    for (const taken of [code, code.toLowerCase(), code.toUpperCase()]) {
      await expectProblem(await t.post('/locations', { code: taken, name: 'Again' }), 409, 'duplicate_location');
    }
    await expectProblem(await t.post('/locations', { code: 'default', name: 'Again' }), 409, 'duplicate_location');
    expect(await locationCount()).toBe(before);
  });

  test('refuses the code of an archived location: a code names one place for good', async () => {
    const gone = await createLocation(t);
    expect((await del(t, `/locations/${gone.id}`)).status).toBe(204);
    await expectProblem(await t.post('/locations', { code: gone.code.toLowerCase(), name: 'New' }), 409, 'duplicate_location');
  });

  test.each([
    ['no fields', {}, ['code', 'name']],
    ['a code starting with a hyphen', { code: '-A', name: 'x' }, ['code']],
    ['a code with a space', { code: 'A B', name: 'x' }, ['code']],
    ['a 33-character code', { code: 'A'.repeat(33), name: 'x' }, ['code']],
    ['a blank name', { code: 'OK-1', name: '  ' }, ['name']],
    ['a 101-character name', { code: 'OK-2', name: 'n'.repeat(101) }, ['name']],
    ['a name with a line break', { code: 'OK-3', name: 'a\nb' }, ['name']],
    ['unknown fields', { code: 'OK-4', name: 'x', is_default: true }, ['is_default']],
  ])('refuses %s with 422 naming the fields, and writes nothing', async (_, body, paths) => {
    const before = await locationCount();
    const problem = await expectProblem(await t.post('/locations', body), 422, 'validation_failed');
    expect([...new Set(problem.errors.map((e: { path: string }) => e.path))].sort()).toEqual(paths);
    expect(await locationCount()).toBe(before);
  });

  test('a 32-character code is accepted', async () => {
    expect((await t.post('/locations', { code: `Z${'9'.repeat(31)}`, name: 'Long code' })).status).toBe(201);
  });

  test('with an Idempotency-Key, a repeat replays the first answer and creates nothing more', async () => {
    const code = uniqueCode('Idem');
    const headers = { 'idempotency-key': `create-${code}` };
    const first = await t.post('/locations', { code, name: 'Once' }, headers);
    expect(first.status).toBe(201);
    const again = await t.post('/locations', { code, name: 'Once' }, headers);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(await first.json());
    expect((await t.db.sql`SELECT 1 FROM locations WHERE code = ${code}`).length).toBe(1);
  });
});

describe('GET /locations/{id}', () => {
  test('answers the location; the default one is marked', async () => {
    const made = await createLocation(t);
    const res = await t.request(`/locations/${made.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(made);
    const def = (await (await t.request(`/locations/${defaultId}`)).json()) as Location;
    expect(def).toMatchObject({ code: 'DEFAULT', is_default: true, archived_at: null });
  });

  test('shows an archived location with its archived_at', async () => {
    const made = await createLocation(t);
    expect((await del(t, `/locations/${made.id}`)).status).toBe(204);
    const body = (await (await t.request(`/locations/${made.id}`)).json()) as Location;
    expect(body.archived_at).toMatch(TIMESTAMP);
  });

  test('answers 404 for an unknown id and 422 for an id that is not one', async () => {
    await expectProblem(await t.request('/locations/999999'), 404, 'not_found');
    await expectProblem(await t.request('/locations/007'), 422, 'validation_failed');
  });
});

describe('PATCH /locations/{id}', () => {
  test('changes the fields present and leaves the others; updated_at moves', async () => {
    const made = await createLocation(t);
    const res = await patch(t, `/locations/${made.id}`, { name: 'Renamed' }, 'application/merge-patch+json');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Location;
    expect(body).toMatchObject({ id: made.id, code: made.code, name: 'Renamed' });
    expect(body.updated_at > made.updated_at).toBe(true);
    const code = uniqueCode('Moved');
    const recoded = (await (await patch(t, `/locations/${made.id}`, { code })).json()) as Location;
    expect(recoded).toMatchObject({ code, name: 'Renamed' });
  });

  test('an empty patch changes nothing', async () => {
    const made = await createLocation(t);
    const res = await patch(t, `/locations/${made.id}`, {});
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(made);
  });

  test("refuses another location's code, in any case, with 409 duplicate_location; its own code in another case is fine", async () => {
    const a = await createLocation(t);
    const b = await createLocation(t);
    await expectProblem(await patch(t, `/locations/${b.id}`, { code: a.code.toLowerCase() }), 409, 'duplicate_location');
    expect((await patch(t, `/locations/${b.id}`, { code: b.code.toLowerCase() })).status).toBe(200);
  });

  test('answers 404 for an unknown or archived location, 422 for a bad code or unknown field', async () => {
    await expectProblem(await patch(t, '/locations/999999', { name: 'x' }), 404, 'not_found');
    const made = await createLocation(t);
    expect((await del(t, `/locations/${made.id}`)).status).toBe(204);
    await expectProblem(await patch(t, `/locations/${made.id}`, { name: 'x' }), 404, 'not_found');
    const live = await createLocation(t);
    await expectProblem(await patch(t, `/locations/${live.id}`, { code: 'no spaces' }), 422, 'validation_failed');
    await expectProblem(await patch(t, `/locations/${live.id}`, { is_default: true }), 422, 'validation_failed');
  });
});

describe('DELETE /locations/{id}', () => {
  test('archives an empty location: 204, listed with archived=true, no longer active', async () => {
    const made = await createLocation(t);
    expect((await del(t, `/locations/${made.id}`)).status).toBe(204);
    expect(await archivedAt(made.id)).not.toBeNull();
    await expectProblem(await del(t, `/locations/${made.id}`), 404, 'not_found');
  });

  test('allows a location whose levels are all empty (stock received, then sold)', async () => {
    const made = await createLocation(t);
    const product = await createProduct(t);
    await receive(t, product, made.id, 4);
    const sold = await t.post(`/products/${product}/stock-adjustments`, { delta: -4, reason: 'sold', location: made.id });
    expect(sold.status).toBe(201);
    expect((await del(t, `/locations/${made.id}`)).status).toBe(204);
  });

  test('refuses 409 location_in_use while a level holds stock, and archives nothing', async () => {
    const made = await createLocation(t);
    const product = await createProduct(t, 2);
    await receive(t, product, made.id, 3);
    await expectProblem(await del(t, `/locations/${made.id}`), 409, 'location_in_use');
    expect(await archivedAt(made.id)).toBeNull();
  });

  test('refuses 409 location_in_use while the level holds reserved stock', async () => {
    const made = await createLocation(t);
    const product = await createProduct(t);
    await receive(t, product, made.id, 3);
    await t.db.sql`SELECT stock_reserve(${product}, ${made.id}, 2, now() + interval '1 hour')`;
    // Take the unreserved unit away: the level holds only what the reservation holds.
    const sold = await t.post(`/products/${product}/stock-adjustments`, { delta: -1, reason: 'sold', location: made.id });
    expect(sold.status).toBe(201);
    await expectProblem(await del(t, `/locations/${made.id}`), 409, 'location_in_use');
    expect(await archivedAt(made.id)).toBeNull();
  });

  test('refuses 409 location_in_use for an open reservation even once its level is empty', async () => {
    // A reservation with nothing on hand cannot be made through stock_reserve; as the owner, the
    // table takes it, and location_archive must still see the reservation.
    const made = await createLocation(t);
    const product = await createProduct(t);
    await t.db.admin`INSERT INTO stock_levels (product_id, location_id) VALUES (${product}, ${made.id})`;
    await t.db.admin`
      INSERT INTO reservations (product_id, location_id, quantity, expires_at)
      VALUES (${product}, ${made.id}, 1, now() + interval '1 hour')`;
    await expectProblem(await del(t, `/locations/${made.id}`), 409, 'location_in_use');
    expect(await archivedAt(made.id)).toBeNull();
  });

  test('refuses to archive the default location', async () => {
    await expectProblem(await del(t, `/locations/${defaultId}`), 409, 'location_in_use');
    expect(await archivedAt(defaultId)).toBeNull();
  });

  test('answers 404 for an unknown id', async () => {
    await expectProblem(await del(t, '/locations/999999'), 404, 'not_found');
  });
});

describe('GET /locations', () => {
  test('pages by id: following rel="next" visits every active location once, in id order; archived ones apart', async () => {
    const made: Location[] = [];
    for (let i = 0; i < 7; i++) made.push(await createLocation(t));
    const archived = made.filter((_, i) => i % 3 === 0);
    for (const l of archived) expect((await del(t, `/locations/${l.id}`)).status).toBe(204);

    const active = await allPages<Location>(t, '/locations?limit=2');
    const ids = active.rows.map((l) => l.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    const expected = (await t.db.sql<{ id: number }[]>`SELECT id FROM locations WHERE archived_at IS NULL ORDER BY id`).map(
      (r) => r.id,
    );
    expect(ids).toEqual(expected);
    expect(active.pages).toBe(Math.ceil(expected.length / 2));
    expect(active.rows.every((l) => l.archived_at === null)).toBe(true);

    const gone = await allPages<Location>(t, '/locations?archived=true&limit=1');
    const goneIds = gone.rows.map((l) => l.id);
    const expectedGone = (
      await t.db.sql<{ id: number }[]>`SELECT id FROM locations WHERE archived_at IS NOT NULL ORDER BY id`
    ).map((r) => r.id);
    expect(goneIds).toEqual(expectedGone);
    for (const l of archived) expect(goneIds).toContain(l.id);
    expect(gone.rows.every((l) => typeof l.archived_at === 'string')).toBe(true);
  });

  test("refuses another listing's cursor and a bad limit with 422", async () => {
    for (let i = 0; i < 2; i++) await createLocation(t);
    const first = await t.request('/locations?limit=1');
    const next = /cursor=([^&>]+)/.exec(first.headers.get('link') ?? '')![1]!;
    await expectProblem(await t.request(`/locations?archived=true&cursor=${next}`), 422, 'validation_failed');
    await expectProblem(await t.request('/locations?cursor=bm90IGEgY3Vyc29y'), 422, 'validation_failed');
    await expectProblem(await t.request('/locations?limit=0'), 422, 'validation_failed');
  });
});
