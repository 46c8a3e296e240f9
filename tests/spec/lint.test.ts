/**
 * The app's /openapi.json passes `redocly lint` with the committed ruleset
 * (redocly.yaml), and that ruleset really enforces what it promises.
 */
import { beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { lintReport, REDOCLY_CONFIG, type LintProblem, type LintReport } from '../../scripts/lint-spec.ts';
import { loadOpenApiDocument, type OpenApiDocument } from '../../scripts/openapi-document.ts';

const configText = readFileSync(REDOCLY_CONFIG, 'utf8');
const rules = (Bun.YAML.parse(configText) as { rules: Record<string, string | { severity?: string }> }).rules;

/** Rules the ruleset relaxes to warnings; each must say why in a RELAXED comment right above it. */
const relaxed = Object.entries(rules)
  .filter(([, setting]) => setting === 'warn' || (typeof setting === 'object' && setting.severity === 'warn'))
  .map(([name]) => name);

function commentAbove(rule: string): string {
  const lines = configText.split('\n');
  let i = lines.findIndex((line) => line.startsWith(`  ${rule}:`));
  const comment: string[] = [];
  while (--i >= 0 && lines[i]!.trimStart().startsWith('#')) comment.unshift(lines[i]!);
  return comment.join('\n');
}

const describeProblem = (p: LintProblem) => `${p.severity} ${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`;

let document: OpenApiDocument;
let report: LintReport;
beforeAll(async () => {
  document = await loadOpenApiDocument();
  report = await lintReport(document);
});

describe("spec lint: the app's /openapi.json", () => {
  test('has no errors', () => {
    expect(report.problems.filter((p) => p.severity === 'error').map(describeProblem)).toEqual([]);
    expect(report.totals.errors).toBe(0);
  });

  test('has warnings only from rules redocly.yaml relaxes, each with its reason', () => {
    const warnings = report.problems.filter((p) => p.severity === 'warn');
    if (warnings.length)
      console.log(`redocly lint: ${warnings.length} warnings\n  ${warnings.map(describeProblem).join('\n  ')}`);
    expect(warnings.filter((p) => !relaxed.includes(p.ruleId)).map(describeProblem)).toEqual([]);
    for (const rule of relaxed) expect(commentAbove(rule)).toContain('RELAXED');
  });
});

describe('spec lint: the ruleset catches', () => {
  /** Lints a copy of the document with `damage` done to it; the problems found, as "rule pointer". */
  async function problemsAfter(damage: (doc: OpenApiDocument) => void): Promise<string[]> {
    const copy = structuredClone(document);
    damage(copy);
    return (await lintReport(copy)).problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer}`);
  }

  test('missing operation ids, summaries, tags, 4xx responses, examples (of a required parameter too), and wrong examples', async () => {
    const problems = await problemsAfter((doc) => {
      const categories = doc.paths['/categories'];
      delete categories.get.operationId;
      delete categories.get.summary;
      delete categories.post.tags;
      categories.post.responses['409'].content = {
        'application/json': categories.post.responses['409'].content['application/problem+json'],
      };
      const report = doc.paths['/reports/inventory'].get.responses;
      for (const status of Object.keys(report)) if (status.startsWith('4')) delete report[status];
      delete doc.components.schemas.Product.properties.name.example;
      doc.components.schemas.Product.properties.quantity.example = 'plenty';
      const id = doc.paths['/products/{id}'].get.parameters.find((p: { name: string }) => p.name === 'id');
      delete id.schema.example;
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'error operation-operationId #/paths/~1categories/get/operationId',
        'error operation-summary #/paths/~1categories/get/summary',
        'error operation-tag-defined #/paths/~1categories/post',
        'error operation-4xx-problem-details-rfc7807 #/paths/~1categories/post/responses/409',
        'error rule/operation-4xx-documented #/paths/~1reports~1inventory/get/responses',
        'error scalar-property-missing-example #/components/schemas/Product/properties/name',
        'error no-invalid-schema-examples #/components/schemas/Product/properties/quantity/example',
        'error rule/required-parameter-example #/paths/~1products~1{id}/get/parameters/0/schema',
      ]),
    );
  });

  test('the probes are held to it too: a probe without its 4xx responses is an error', async () => {
    const problems = await problemsAfter((doc) => {
      const responses = doc.paths['/healthz'].get.responses;
      for (const status of Object.keys(responses)) if (status.startsWith('4')) delete responses[status];
    });
    expect(problems.filter((p) => p.includes('4xx-documented'))).toEqual([
      'error rule/operation-4xx-documented #/paths/~1healthz/get/responses',
    ]);
  });
});
