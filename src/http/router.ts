import { OpenAPIHono, type Hook } from '@hono/zod-openapi';
import { ApiError, type FieldError } from '../errors.ts';
import type { AppEnv } from './context.ts';

type Issue = { path: PropertyKey[]; message: string; code?: string; keys?: string[] };

/** Names every bad field; unknown fields are named one by one. */
export function fieldErrors(issues: readonly Issue[]): FieldError[] {
  return issues.flatMap((issue) => {
    const base = issue.path.map(String);
    if (issue.code === 'unrecognized_keys' && issue.keys) {
      return issue.keys.map((key) => ({ path: [...base, key].join('.'), message: 'unknown field' }));
    }
    return [{ path: base.join('.') || 'body', message: issue.message }];
  });
}

/** Turns a failed request validation into a 422 problem naming every bad field. */
const validationHook: Hook<unknown, AppEnv, string, unknown> = (result) => {
  if (result.success) return;
  const errors = fieldErrors((result.error as { issues: Issue[] }).issues);
  const where = result.target === 'json' ? 'body' : result.target;
  throw new ApiError(
    'validation_failed',
    `the request ${where} has ${errors.length} invalid field${errors.length === 1 ? '' : 's'}`,
    errors,
  );
};

/** A router whose routes share the app's validation errors. */
export function createRouter(options: { strict?: boolean } = {}) {
  return new OpenAPIHono<AppEnv>({ ...options, defaultHook: validationHook });
}
