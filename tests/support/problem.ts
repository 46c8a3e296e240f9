import { expect } from 'bun:test';

const PROBLEM_KEYS = new Set(['type', 'title', 'status', 'code', 'detail', 'instance', 'errors']);

/**
 * Checks a problem document: status, content type, the five members, nothing
 * else but instance and errors, and no stack trace. Returns the body.
 */
export async function expectProblem(res: Response, status: number, code: string): Promise<any> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toStartWith('application/problem+json');
  const text = await res.text();
  expect(text).not.toMatch(/\n\s+at |\.ts:\d+/);
  const body = JSON.parse(text);
  // objectContaining, not toMatchObject: Bun 1.4.5's toMatchObject overwrites matched members with the matchers.
  expect(body).toEqual(
    expect.objectContaining({
      type: expect.any(String),
      title: expect.any(String),
      status,
      code,
      detail: expect.any(String),
    }),
  );
  expect(Object.keys(body).filter((k) => !PROBLEM_KEYS.has(k))).toEqual([]);
  return body;
}
