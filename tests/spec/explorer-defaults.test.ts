/**
 * The explorer (Swagger UI) fills every parameter that has an example into
 * "Try it out". An optional parameter must therefore carry none: a pre-filled
 * filter, cursor, Idempotency-Key or If-Match would change what Execute does
 * (one product instead of the list, a replayed answer, 412) for a user who
 * only meant to try the operation.
 */
import { expect, test } from 'bun:test';
import { loadOpenApiDocument } from '../../scripts/openapi-document.ts';

type Parameter = {
  name: string;
  in: string;
  required?: boolean;
  example?: unknown;
  examples?: unknown;
  schema?: { example?: unknown; examples?: unknown };
};

test('no optional parameter of any operation has an example', async () => {
  const doc = (await loadOpenApiDocument()) as unknown as {
    paths: Record<string, Record<string, { operationId?: string; parameters?: Parameter[] }>>;
  };
  const prefilled: string[] = [];
  let optional = 0;
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      for (const p of op.parameters ?? []) {
        if (p.required) continue;
        optional++;
        if (
          p.example !== undefined ||
          p.examples !== undefined ||
          p.schema?.example !== undefined ||
          p.schema?.examples !== undefined
        ) {
          prefilled.push(`${method.toUpperCase()} ${path} ${p.in} ${p.name}`);
        }
      }
    }
  }
  expect(optional).toBeGreaterThan(5);
  expect(prefilled).toEqual([]);
});
