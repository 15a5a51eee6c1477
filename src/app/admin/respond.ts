import { isWeirError, WeirError } from '../../errors.js';
import type { App } from '../app.js';
import { json } from '../serve.js';

/** What a route handler gets. @internal */
export interface AdminRequest {
  readonly app: App;
  readonly request: Request;
  readonly url: URL;
  /** Path parameters (`:id`), decoded. */
  readonly params: Readonly<Record<string, string>>;
}

/** A route handler: a JSON-able value (200) or a Response. @internal */
export type AdminHandler = (r: AdminRequest) => Promise<unknown>;

/** A 400: the request is malformed (`message` says how). @internal */
export function badRequest(message: string): WeirError<'WEIR_INVALID_OPTION'> {
  return new WeirError('WEIR_INVALID_OPTION', message);
}

/** A 404. @internal */
export function notFound(message: string): WeirError<'WEIR_NOT_FOUND'> {
  return new WeirError('WEIR_NOT_FOUND', message);
}

/** A 409: the thing is not in a state that allows the request. @internal */
export function conflict(message: string, details: Readonly<Record<string, unknown>> = {}): WeirError<'WEIR_INVALID_STATE'> {
  return new WeirError('WEIR_INVALID_STATE', message, { details });
}

const UPSTREAM = new Set(['WEIR_CIRCUIT_OPEN', 'WEIR_NETWORK', 'WEIR_TIMEOUT', 'WEIR_HTTP_STATUS', 'WEIR_RATE_LIMITED', 'WEIR_BULKHEAD_FULL', 'WEIR_RETRIES_EXHAUSTED', 'WEIR_AUTH_FAILED', 'WEIR_AUTH_UNAVAILABLE']);

/**
 * The JSON error response of a failed request: `{ error, detail, code? }`. Weir errors map to their
 * HTTP meaning (bad input 400, unknown id 404, wrong state 409, a remote system failing 502); anything
 * else is a 500 without detail.
 * @internal
 */
export function errorResponse(err: unknown): Response {
  if (!isWeirError(err)) return json(500, { error: 'internal_error', detail: 'the admin API failed; see the process log' });
  const c = err.code;
  if (c === 'WEIR_INVALID_OPTION') return json(400, { error: 'bad_request', detail: err.message });
  if (c === 'WEIR_NOT_FOUND') return json(404, { error: 'not_found', detail: err.message });
  if (c === 'WEIR_INVALID_STATE') return json(409, { error: 'conflict', detail: err.message, ...err.details });
  if (c === 'WEIR_PRECONDITION_FAILED') return json(409, { error: 'changed', detail: `${err.message} Try again.` });
  if (UPSTREAM.has(c)) return json(502, { error: 'upstream_error', code: c, detail: err.message });
  return json(500, { error: 'internal_error', code: c, detail: err.message });
}

/** The request's JSON body (an object), or a 400. @internal */
export async function jsonBody(request: Request): Promise<Record<string, unknown>> {
  const text = await request.text();
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw badRequest('the body is not valid JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body must be a JSON object');
  return body as Record<string, unknown>;
}

/** An optional integer query parameter within `[min, max]`, or a 400 naming it. @internal */
export function intParam(url: URL, name: string, o: { readonly min?: number; readonly max?: number } = {}): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  const min = o.min ?? 0;
  const max = o.max ?? Number.MAX_SAFE_INTEGER;
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw badRequest(`query parameter ${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** An optional string query parameter (empty counts as absent), limited to `allowed` when given. @internal */
export function strParam<T extends string = string>(url: URL, name: string, allowed?: readonly T[]): T | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return undefined;
  if (allowed !== undefined && !allowed.includes(raw as T)) throw badRequest(`query parameter ${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

/** Epoch ms as ISO-8601 (null stays null). @internal */
export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined || !(Math.abs(ms) <= 8.64e15) ? null : new Date(ms).toISOString();
}
