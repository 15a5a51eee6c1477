import { randomUUID } from 'node:crypto';
import { InvalidOptionError } from '../../errors.js';
import { fn as isFn } from '../../internal/validate.js';
import { type Dispatch, enter, headerOf, type HttpCall, type Interceptor, isIdempotentMethod, type WeirDispatchOptions, withHeaders } from '../call.js';

/** Options of {@link idempotencyKey} (and of `connection({ idempotency })`). */
export interface IdempotencyOptions {
  /** The header name. Default `'idempotency-key'` (IETF draft-ietf-httpapi-idempotency-key-header). */
  header?: string;
  /**
   * Give every call with one of `methods` a random key when the caller gave none, so that its
   * retries are safe. Only useful when the server honours the header. Default false.
   */
  auto?: boolean;
  /** Methods that get an automatic key. Default `['POST', 'PATCH']`. */
  methods?: readonly string[];
  /**
   * Turns a caller-supplied `operationId` into the key. Default: the id itself, so a message
   * redelivered with the same id carries the same key.
   */
  derive?: (operationId: string, call: HttpCall) => string;
}

const MAX_KEY_LENGTH = 255;

/**
 * Sets the Idempotency-Key of a logical operation, once, and sends it on every attempt. The key is,
 * in order: the request's own header; `opts.weir.idempotencyKey`; `derive(opts.weir.operationId)`;
 * with `auto`, a random UUID for the configured methods. A call with a key is safe to retry even
 * after it reached the server (the `resilience()`/`retry()` interceptors read it from the call).
 *
 * Import from `weir/http`.
 * @throws InvalidOptionError (`idempotency.header`, `idempotency.methods`, `idempotency.derive`).
 * @example
 * ```ts
 * const dispatcher = new Agent().compose(idempotencyKey(), retry());
 * await dispatcher.request({ origin, path: '/v3/contacts', method: 'POST', body, weir: { idempotencyKey: `${msg.id}:create` } });
 * ```
 */
export function idempotencyKey(options: IdempotencyOptions = {}): Interceptor {
  const header = headerName(options.header ?? 'idempotency-key', 'idempotency.header');
  const auto = options.auto === true;
  if (options.methods !== undefined && !Array.isArray(options.methods)) throw new InvalidOptionError('idempotency.methods', 'an array of methods', options.methods);
  const methods = new Set((options.methods ?? ['POST', 'PATCH']).map((m) => m.toUpperCase()));
  const derive = options.derive === undefined ? undefined : isFn<(id: string, call: HttpCall) => string>(options.derive, 'idempotency.derive');
  return (dispatch: Dispatch): Dispatch =>
    function weirIdempotencyKey(opts, handler) {
      const { call, opts: o, handler: h } = enter(opts as WeirDispatchOptions, handler);
      // Nothing to do for a safe method with no key asked for (the common GET): skip the header scan.
      if (call.idempotencyKey === undefined && call.options.operationId === undefined && isIdempotentMethod(call.method) && !(auto && methods.has(call.method))) {
        return dispatch(o, h);
      }
      const own = headerOf(o, header);
      if (own !== undefined) {
        call.idempotencyKey = own;
        return dispatch(o, h);
      }
      let key = call.idempotencyKey;
      if (key === undefined) {
        const id = call.options.operationId;
        if (id !== undefined) key = derive === undefined ? id : derive(id, call);
        else if (auto && methods.has(call.method)) key = randomUUID();
        if (key === undefined) return dispatch(o, h);
        if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH || /[^\x20-\x7e]/.test(key)) {
          throw new InvalidOptionError('idempotencyKey', `a printable ASCII string of 1 to ${MAX_KEY_LENGTH} characters`, key);
        }
        call.idempotencyKey = key;
      }
      return dispatch({ ...o, headers: withHeaders(o, { [header]: key }) }, h);
    };
}

function headerName(value: unknown, option: string): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(value)) throw new InvalidOptionError(option, 'a header name', value);
  return value.toLowerCase();
}
