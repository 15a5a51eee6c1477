import type { Classification } from '../errors.js';
import type { Outcome } from './types.js';

export type { Classification };

/**
 * Classifies a finished call once; each policy then maps the class to its own reaction:
 * `permanent` is never retried and never counts against a breaker, `rate_limited` waits as told,
 * `cancelled` is never a failure.
 */
export type Classifier = (outcome: Outcome<unknown>) => Classification;

const transientCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/**
 * The default classification of an error:
 * - a Weir error (or any error with a `classification` field) carries its own;
 * - `AbortError` is `cancelled`;
 * - an HTTP status (`status` or `statusCode`): 429 → `rate_limited`; 408, 425 and 5xx → `transient`
 *   (501 and 505 → `permanent`); other 4xx → `permanent`;
 * - anything else (network errors, unknown errors) is `transient`.
 */
export function classifyError(error: unknown): Classification {
  if (typeof error !== 'object' || error === null) return 'transient';
  const e = error as { classification?: unknown; name?: unknown; status?: unknown; statusCode?: unknown; code?: unknown };
  if (typeof e.classification === 'string') return e.classification as Classification;
  if (e.name === 'AbortError') return 'cancelled';
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (status !== undefined) return classifyStatus(status);
  if (typeof e.code === 'string' && transientCodes.has(e.code)) return 'transient';
  return 'transient';
}

/** Classification of an HTTP status code. */
export function classifyStatus(status: number): Classification {
  if (status < 400) return 'success';
  if (status === 429) return 'rate_limited';
  if (status === 408 || status === 425) return 'transient';
  if (status === 501 || status === 505) return 'permanent';
  if (status >= 500) return 'transient';
  return 'permanent';
}

/** The default classifier: a value is a success, an error is classified by {@link classifyError}. */
export const defaultClassifier: Classifier = (outcome) => (outcome.ok ? 'success' : classifyError(outcome.error));

/** Reads `retryAfterMs` from an error, if it carries a usable one. */
export function retryAfterOf(error: unknown): number | undefined {
  const ms = (error as { retryAfterMs?: unknown } | null | undefined)?.retryAfterMs;
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}
