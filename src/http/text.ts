import { z } from '@hono/zod-openapi';

/** Text a client may send: PostgreSQL text cannot hold NUL, so it is refused here with a clear message. */
export const text = () => z.string().regex(/^[^\u0000]*$/, 'must not contain NUL characters');
