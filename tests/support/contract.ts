/**
 * The contract check every test client runs: each response must be one that
 * /openapi.json documents for the request that got it — the status (or a
 * documented `default`), the required headers, every header the contract
 * speaks of (CONTRACT_HEADERS) declared, and the body valid against the schema
 * of its status and content type. A request no operation takes is held to the
 * document's `x-unrouted-requests` (404 for an unknown path, 405 for a method
 * the path does not take).
 *
 * The test app's `request`/`post` (tests/support/app.ts), `checkedApp` for apps
 * a test builds itself, and `documentedFetch` for real sockets all go through
 * `expectDocumented`, so an undocumented answer fails the test that got it.
 */
import { loadOpenApiDocument } from '../../scripts/openapi-document.ts';

export type JsonSchema = boolean | { [keyword: string]: any };
export type OpenApi = { paths: Record<string, Record<string, any>>; [key: string]: any };

// ---------------------------------------------------------------- a JSON Schema validator for the subset we use

const ANNOTATIONS = new Set(['description', 'example', 'examples', 'default', 'title', 'deprecated', 'readOnly', 'writeOnly']);
const ASSERTIONS = new Set([
  '$ref',
  'type',
  'enum',
  'const',
  'not',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'anyOf',
  'oneOf',
  'allOf',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minItems',
  'maxItems',
]);
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

export function resolveRef(doc: unknown, ref: string): JsonSchema {
  if (!ref.startsWith('#/')) throw new Error(`validator: only local $refs are supported, got ${ref}`);
  const target = ref
    .slice(2)
    .split('/')
    .reduce<any>((node, part) => node?.[part.replaceAll('~1', '/').replaceAll('~0', '~')], doc);
  if (target === undefined) throw new Error(`validator: $ref ${ref} points at nothing`);
  return target as JsonSchema;
}

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case 'null':
      return value === null;
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'string':
    case 'boolean':
      return typeof value === type;
    default:
      throw new Error(`validator: unknown type ${type}`);
  }
}

/** `value` is a whole multiple of `step`, decided in decimal (0.01 has no exact binary value). */
function isMultiple(value: number, step: number): boolean {
  const ratio = value / step;
  return Math.abs(ratio - Math.round(ratio)) < 1e-9 * Math.max(1, Math.abs(ratio));
}

/**
 * The ways `value` breaks `schema`, as "path: message" lines. Objects may not
 * carry properties their schema does not list: an undocumented field in a
 * response is a lie of the document too. Unknown keywords throw, so no
 * constraint is ever skipped silently.
 */
export function validate(schema: JsonSchema, value: unknown, doc: unknown, at = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${at}: no value is allowed here`];
  for (const keyword of Object.keys(schema)) {
    if (!ANNOTATIONS.has(keyword) && !ASSERTIONS.has(keyword))
      throw new Error(`validator: unsupported keyword "${keyword}" at ${at}`);
  }
  const errors: string[] = [];
  const fail = (message: string) => errors.push(`${at}: ${message}`);
  const s = schema;
  if (s.$ref) errors.push(...validate(resolveRef(doc, s.$ref), value, doc, at));
  if (s.type !== undefined) {
    const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => typeMatches(t, value)))
      return [...errors, `${at}: expected ${types.join(' or ')}, got ${JSON.stringify(value)}`];
  }
  if (s.enum && !s.enum.some((v: unknown) => JSON.stringify(v) === JSON.stringify(value)))
    fail(`${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
  if ('const' in s && JSON.stringify(s.const) !== JSON.stringify(value)) fail(`expected ${JSON.stringify(s.const)}`);
  if (s.not !== undefined && validate(s.not, value, doc, at).length === 0)
    fail(`${JSON.stringify(value)} matches a schema it must not`);
  if (s.allOf) for (const sub of s.allOf) errors.push(...validate(sub, value, doc, at));
  if (s.anyOf && !s.anyOf.some((sub: JsonSchema) => validate(sub, value, doc, at).length === 0)) fail('matches none of anyOf');
  if (s.oneOf && s.oneOf.filter((sub: JsonSchema) => validate(sub, value, doc, at).length === 0).length !== 1)
    fail('does not match exactly one of oneOf');
  if (typeof value === 'number') {
    if (s.minimum !== undefined && value < s.minimum) fail(`${value} < minimum ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum) fail(`${value} > maximum ${s.maximum}`);
    if (s.exclusiveMinimum !== undefined && value <= s.exclusiveMinimum)
      fail(`${value} <= exclusiveMinimum ${s.exclusiveMinimum}`);
    if (s.exclusiveMaximum !== undefined && value >= s.exclusiveMaximum)
      fail(`${value} >= exclusiveMaximum ${s.exclusiveMaximum}`);
    if (s.multipleOf !== undefined && !isMultiple(value, s.multipleOf)) fail(`${value} is not a multiple of ${s.multipleOf}`);
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (s.minLength !== undefined && length < s.minLength) fail(`shorter than ${s.minLength}`);
    if (s.maxLength !== undefined && length > s.maxLength) fail(`longer than ${s.maxLength}`);
    if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(value)) fail(`does not match ${s.pattern}`);
    if (s.format === 'date-time' && (!RFC3339.test(value) || Number.isNaN(Date.parse(value))))
      fail(`${value} is not an RFC 3339 date-time`);
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems) fail(`fewer than ${s.minItems} items`);
    if (s.maxItems !== undefined && value.length > s.maxItems) fail(`more than ${s.maxItems} items`);
    if (s.items !== undefined) value.forEach((item, i) => errors.push(...validate(s.items, item, doc, `${at}[${i}]`)));
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const object = value as Record<string, unknown>;
    for (const name of s.required ?? []) if (!(name in object)) fail(`required property "${name}" is missing`);
    const properties: Record<string, JsonSchema> = s.properties ?? {};
    for (const [name, item] of Object.entries(object)) {
      if (name in properties) errors.push(...validate(properties[name]!, item, doc, `${at}.${name}`));
      else if (s.additionalProperties === false || (s.additionalProperties === undefined && s.properties))
        fail(`property "${name}" is not documented`);
      else if (typeof s.additionalProperties === 'object')
        errors.push(...validate(s.additionalProperties, item, doc, `${at}.${name}`));
    }
  }
  return errors;
}

// ---------------------------------------------------------------- responses against the document

/** Response headers the contract speaks of: when the service sends one, the document must declare it there. */
export const CONTRACT_HEADERS = [
  'x-request-id',
  'retry-after',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'idempotent-replayed',
  'location',
  'link',
  'etag',
  'allow',
  'www-authenticate',
  'consistency-token',
];

/** Served by the service but not operations of the API: the document itself and the explorer. */
const OUTSIDE_THE_DOCUMENT = /^\/(openapi\.json|docs(\/.*)?)$/;

export type ReceivedResponse = {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
  body?: { cancel(): Promise<void> } | null;
};

const EVENT_STREAM = 'text/event-stream';
const eventStream = (response: ReceivedResponse) =>
  (response.headers.get('content-type') ?? '').split(';')[0]!.trim() === EVENT_STREAM;

const deref = (doc: OpenApi, node: any) => (node?.$ref ? (resolveRef(doc, node.$ref) as Record<string, any>) : node);

/** How `response`, documented by `responses`, differs from them; `what` names the request in messages. */
async function againstResponses(
  doc: OpenApi,
  responses: Record<string, any>,
  response: ReceivedResponse,
  head: boolean,
): Promise<string[]> {
  const status = String(response.status);
  const documented = responses[status] ?? responses[`${status[0]}XX`] ?? responses.default;
  if (!documented) return [`status ${status} is not documented`];
  const spec = deref(doc, documented);
  const problems: string[] = [];
  const declared = new Set<string>();
  for (const [name, node] of Object.entries<any>(spec.headers ?? {})) {
    const header = deref(doc, node);
    declared.add(name.toLowerCase());
    const value = response.headers.get(name);
    if (value === null) {
      if (header.required) problems.push(`required header ${name} is missing`);
    } else if (header.schema) {
      problems.push(...validate(header.schema, value, doc, `header ${name}`));
    }
  }
  for (const name of CONTRACT_HEADERS) {
    if (response.headers.get(name) !== null && !declared.has(name)) problems.push(`header ${name} is sent but not declared`);
  }
  const content: Record<string, { schema?: JsonSchema; examples?: Record<string, { value?: any }> }> = spec.content ?? {};
  // A stream (Server-Sent Events) has no end to wait for: its head is checked, its body left to the test.
  // (Not awaited: a clone's cancel settles only once the original is cancelled too.)
  if (!head && eventStream(response) && content[EVENT_STREAM]) {
    response.body?.cancel().catch(() => {});
    return problems;
  }
  const body = await response.text();
  if (head) return body === '' ? problems : [...problems, 'HEAD answered with a body'];
  if (Object.keys(content).length === 0) return body === '' ? problems : [...problems, 'a body is sent where none is documented'];
  const mediaType = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const media = content[mediaType];
  if (!media) return [...problems, `content-type "${mediaType}" is not one of ${Object.keys(content).join(', ')}`];
  if (!/[/+]json$/.test(mediaType) || !media.schema) return problems;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return [...problems, `the body is not JSON: ${JSON.stringify(body.slice(0, 80))}`];
  }
  problems.push(...validate(media.schema, parsed, doc, 'body'));
  // A problem document: its status is the response's, and its code one the document shows for that status.
  if (mediaType === 'application/problem+json' && parsed && typeof parsed === 'object') {
    const problem = parsed as { status?: unknown; code?: unknown };
    if (problem.status !== response.status)
      problems.push(`body.status ${problem.status} is not the response's ${response.status}`);
    const codes = Object.values(media.examples ?? {}).map((example) => example.value?.code);
    if (codes.length && !codes.includes(problem.code))
      problems.push(`code ${problem.code} is not documented for ${status} (${codes.join(', ')})`);
  }
  return problems;
}

/** The path template of the document that `path` (no query) falls under, the most literal one first. */
export function templateOf(doc: OpenApi, path: string): string | undefined {
  const clean = path.length > 1 ? path.replace(/\/$/, '') : path;
  const templates = Object.keys(doc.paths).sort((a, b) => a.split('{').length - b.split('{').length);
  return templates.find((template) => {
    const source = template
      .split('/')
      .map((part) => (/^\{.+\}$/.test(part) ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    return new RegExp(`^${source}$`).test(clean);
  });
}

/** How `response` to a request on an operation (`template` from the document) differs from what is documented. */
export async function undocumentedAt(
  doc: OpenApi,
  method: string,
  template: string,
  response: ReceivedResponse,
): Promise<string[]> {
  const head = method.toUpperCase() === 'HEAD';
  const operation = doc.paths[template]?.[head ? 'get' : method.toLowerCase()];
  if (!operation) return [`${method} ${template} is not in the document`];
  return againstResponses(doc, operation.responses ?? {}, response, head);
}

/** How `response` to `method path` differs from what the document says of that request, routed or not. */
export async function undocumented(doc: OpenApi, method: string, path: string, response: ReceivedResponse): Promise<string[]> {
  const template = templateOf(doc, path);
  const head = method.toUpperCase() === 'HEAD';
  if (template && doc.paths[template]?.[head ? 'get' : method.toLowerCase()])
    return undocumentedAt(doc, method, template, response);
  if (OUTSIDE_THE_DOCUMENT.test(path) && response.status < 400) return [];
  const unrouted = doc['x-unrouted-requests']?.responses;
  if (!unrouted) return ['the document has no x-unrouted-requests'];
  // An unknown path is never 405; a path of an operation, with another method, is never 404.
  const responses = { ...unrouted };
  if (template) delete responses['404'];
  else if (!OUTSIDE_THE_DOCUMENT.test(path)) delete responses['405'];
  return againstResponses(doc, responses, response, head);
}

// ---------------------------------------------------------------- the clients' hook

let documentPromise: Promise<OpenApi> | undefined;
/** The app's own /openapi.json, built once per test file. */
export const contractDocument = () => (documentPromise ??= loadOpenApiDocument() as Promise<OpenApi>);

/** Every exchange checked so far in this file, as "METHOD template status" (for tests that want to see coverage). */
export const checkedExchanges = new Set<string>();

/**
 * Fails (throws) unless `response` is documented for `method url`. An
 * OPTIONS request the CORS layer answered (204, Access-Control-Allow-Methods,
 * no body; with CORS_ORIGINS set it answers every OPTIONS) is CORS's protocol,
 * not an operation of the API, and is not checked; without CORS, OPTIONS is
 * answered 405 like any method a path does not take. Returns the response, unread.
 */
export async function expectDocumented(method: string, url: string, response: Response): Promise<Response> {
  const upper = method.toUpperCase();
  if (upper === 'OPTIONS' && response.status === 204 && response.headers.has('access-control-allow-methods')) {
    if ((await response.clone().text()) === '') return response;
  }
  const doc = await contractDocument();
  const path = new URL(url, 'http://localhost').pathname;
  const problems = await undocumented(doc, upper, path, response.clone());
  if (problems.length) {
    throw new Error(`${upper} ${path} → ${response.status} is not as /openapi.json documents it:\n  ${problems.join('\n  ')}`);
  }
  checkedExchanges.add(`${upper} ${templateOf(doc, path) ?? path} ${response.status}`);
  return response;
}

/** fetch, for a real socket, with every response checked against the document. */
export async function documentedFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const request = input instanceof Request ? input : undefined;
  const method = init?.method ?? request?.method ?? 'GET';
  const url = request ? request.url : String(input);
  const response = await fetch(input, init);
  return expectDocumented(method, url, response);
}

type Requester = { request: (input: any, init?: RequestInit, ...rest: any[]) => Response | Promise<Response> };

/** The same app with `request` checking every response against the document. */
export function checkedApp<T extends Requester>(app: T): T {
  const request = app.request.bind(app);
  return Object.assign(app, {
    request: async (input: string | URL | Request, init?: RequestInit, ...rest: unknown[]) => {
      const response = await request(input, init, ...rest);
      const isRequest = input instanceof Request;
      const method = init?.method ?? (isRequest ? input.method : 'GET');
      const url = isRequest ? input.url : String(input);
      return expectDocumented(method, url, response);
    },
  });
}
