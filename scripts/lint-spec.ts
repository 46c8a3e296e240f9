/**
 * `bun run lint:spec`: lints the app's own /openapi.json with Redocly CLI and
 * the committed ruleset (redocly.yaml), offline. Exits non-zero on any error.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOpenApiDocument, type OpenApiDocument } from './openapi-document.ts';

const ROOT = join(import.meta.dir, '..');
export const REDOCLY_CONFIG = join(ROOT, 'redocly.yaml');
const REDOCLY_BIN = join(ROOT, 'node_modules', '.bin', 'redocly');

export type LintFormat = 'json' | 'stylish' | 'codeframe';
export type LintRun = { exitCode: number; stdout: string; stderr: string };

/** A problem as `redocly lint --format=json` reports it. */
export type LintProblem = {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location: { pointer: string }[];
};
export type LintReport = { totals: { errors: number; warnings: number; ignored: number }; problems: LintProblem[] };

/**
 * Writes `document` to a temporary file and runs `redocly lint` on it. The CLI
 * runs under Bun (it supports it), so an old Node.js on the machine does not
 * matter; telemetry and the update check (a request to the npm registry) are off.
 */
export async function lintOpenApi(document: OpenApiDocument, format: LintFormat = 'codeframe'): Promise<LintRun> {
  const dir = mkdtempSync(join(tmpdir(), 'inventory-openapi-'));
  try {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(document, null, 2));
    const proc = Bun.spawn(
      [process.execPath, REDOCLY_BIN, 'lint', file, '--config', REDOCLY_CONFIG, `--format=${format}`, '--max-problems=1000'],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          REDOCLY_TELEMETRY: 'off',
          REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
          REDOCLY_SUPPRESS_NOTIFICATIONS: 'true',
        },
        stdout: 'pipe',
        stderr: 'pipe',
      },
    );
    const [stdout, stderr, exitCode] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return { exitCode, stdout, stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The parsed result of a JSON-format lint run. */
export async function lintReport(document: OpenApiDocument): Promise<LintReport> {
  const run = await lintOpenApi(document, 'json');
  try {
    return JSON.parse(run.stdout) as LintReport;
  } catch {
    throw new Error(`redocly lint gave no JSON report (exit ${run.exitCode}):\n${run.stdout}\n${run.stderr}`);
  }
}

if (import.meta.main) {
  const run = await lintOpenApi(await loadOpenApiDocument(), (process.argv[2] as LintFormat | undefined) ?? 'codeframe');
  process.stdout.write(run.stdout);
  process.stderr.write(run.stderr);
  process.exit(run.exitCode);
}
