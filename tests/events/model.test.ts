/**
 * The feed's list of event types (src/events/model.ts), which validates
 * `type=` and documents the `type` enum, is exactly the set of types written:
 * by the database's functions (read from the migrated schema, not from a copy)
 * and by the service's own SQL (src/).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EVENT_TYPES } from '../../src/events/model.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const TYPE = /'([a-z_]+\.[a-z_]+)'/g;

/**
 * The types a function's source can write: its literals shaped like a type,
 * and each prefix it completes with a column (`'stock.' || NEW.state`),
 * completed with every value the source lets that column take there
 * (`NEW.state IN ('released', 'expired')`).
 */
function typesIn(source: string): string[] {
  const types = [...source.matchAll(TYPE)].map((m) => m[1]!);
  for (const [, prefix, column] of source.matchAll(/'([a-z_]+\.)'\s*\|\|\s*(NEW\.\w+)/g)) {
    const allowed = new RegExp(`${column!.replace('.', '\\.')}\\s+IN\\s*\\(([^)]*)\\)`).exec(source);
    if (!allowed) throw new Error(`${prefix} || ${column}: no IN (...) list tells which values it takes`);
    for (const [, value] of allowed[1]!.matchAll(/'([a-z_]+)'/g)) types.push(`${prefix}${value}`);
  }
  return types;
}

test('the types the database functions write', async () => {
  // The events migration's functions (event_*, events_*: the triggers and what they call) and any other that
  // inserts an event.
  const functions = await db.sql<{ name: string; source: string }[]>`
    SELECT name, source FROM (
      SELECT p.proname AS name, pg_get_functiondef(p.oid) AS source
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = 'public' AND p.prokind = 'f'
    ) f
    WHERE name LIKE 'event%' OR source ILIKE '%INSERT INTO events%'`;
  expect(functions.map((f) => f.name)).toEqual(expect.arrayContaining(['events_stock_moved', 'events_reservations']));
  const written = new Set(functions.flatMap((f) => typesIn(f.source)));
  // The service's own SQL: statements that insert an event with a literal type.
  const src = resolve(import.meta.dir, '../../src');
  for (const file of readdirSync(src, { recursive: true }).map(String)) {
    if (!file.endsWith('.ts')) continue;
    const text = readFileSync(join(src, file), 'utf8');
    for (const [statement] of text.matchAll(/INSERT INTO events\b[^`]*/g)) {
      for (const type of typesIn(statement)) written.add(type);
    }
  }
  expect([...written].sort()).toEqual([...EVENT_TYPES].sort());
});

test('the source reader finds completed prefixes and refuses one it cannot complete', () => {
  expect(typesIn(`kind := 'a.' || NEW.state; ... WHEN NEW.state IN ('x', 'y_z')`).sort()).toEqual(['a.x', 'a.y_z']);
  expect(() => typesIn(`kind := 'a.' || NEW.state;`)).toThrow();
});
