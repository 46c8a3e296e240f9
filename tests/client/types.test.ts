/**
 * clients/ts/schema.d.ts must be exactly what the app's /openapi.json generates:
 * a route or schema changed without regenerating the client types fails here.
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { CLIENT_TYPES_PATH, generateClientTypes } from '../../scripts/generate-client.ts';
import { loadOpenApiDocument } from '../../scripts/openapi-document.ts';

/** The first line where two texts differ, for a readable failure. */
function firstDifference(committed: string, generated: string): string {
  const a = committed.split('\n');
  const b = generated.split('\n');
  const line = a.findIndex((text, i) => text !== b[i]);
  const at = line === -1 ? a.length : line;
  return `line ${at + 1}:\n  committed: ${a[at] ?? '(end of file)'}\n  generated: ${b[at] ?? '(end of file)'}`;
}

describe('client types', () => {
  test('clients/ts/schema.d.ts matches the types generated from /openapi.json', async () => {
    const generated = await generateClientTypes(await loadOpenApiDocument());
    const committed = readFileSync(CLIENT_TYPES_PATH, 'utf8');
    if (committed !== generated) {
      throw new Error(
        `clients/ts/schema.d.ts is out of date with /openapi.json: run \`bun run client:generate\`\n${firstDifference(committed, generated)}`,
      );
    }
  });

  test('generating twice gives the same text', async () => {
    const document = await loadOpenApiDocument();
    expect(await generateClientTypes(document)).toBe(await generateClientTypes(document));
  });

  test('every operation of the document has its entry in the types', async () => {
    const document = await loadOpenApiDocument();
    const types = readFileSync(CLIENT_TYPES_PATH, 'utf8');
    const operationIds = Object.values(document.paths as Record<string, Record<string, { operationId: string }>>).flatMap(
      (item) => Object.values(item).map((operation) => operation.operationId),
    );
    expect(operationIds.length).toBeGreaterThan(10);
    for (const id of operationIds) expect(types).toContain(`    ${id}: {`);
  });
});
