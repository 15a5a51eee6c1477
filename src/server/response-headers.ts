/**
 * Headers a middleware adds to whatever response is finally sent (`ctx.headers`). A small map
 * rather than a Web `Headers` per request: on the hot path (a rate limit on every request) the
 * WHATWG object's validation and normalisation cost more than the limiter itself.
 */
export class ResponseHeaders {
  readonly #values = new Map<string, string[]>();

  /** Replaces the values of `name`. @throws TypeError for a value with CR, LF or NUL (header injection). */
  set(name: string, value: string | number): this {
    this.#values.set(name.toLowerCase(), [checked(value)]);
    return this;
  }

  /** Adds a value to `name` (`set-cookie` stays a list; others are joined with `, ` when sent). */
  append(name: string, value: string | number): this {
    const key = name.toLowerCase();
    const list = this.#values.get(key);
    if (list === undefined) this.#values.set(key, [checked(value)]);
    else list.push(checked(value));
    return this;
  }

  get(name: string): string | null {
    const list = this.#values.get(name.toLowerCase());
    return list === undefined ? null : list.join(', ');
  }

  has(name: string): boolean {
    return this.#values.has(name.toLowerCase());
  }

  delete(name: string): boolean {
    return this.#values.delete(name.toLowerCase());
  }

  get size(): number {
    return this.#values.size;
  }

  /**
   * Calls `fn(value, name)` for each header, in the order of the Web `Headers.forEach`: lower-case
   * names, each `set-cookie` apart, other lists joined with `, `. The adapters' per-request path (no
   * iterator objects or pair arrays).
   */
  forEach(fn: (value: string, name: string) => void): void {
    for (const [name, list] of this.#values) {
      if (name === 'set-cookie') for (const v of list) fn(v, name);
      else fn(list.length === 1 ? (list[0] as string) : list.join(', '), name);
    }
  }

  /** `[name, value]` pairs, as {@link forEach} gives them. */
  [Symbol.iterator](): IterableIterator<[string, string]> {
    const pairs: Array<[string, string]> = [];
    this.forEach((value, name) => pairs.push([name, value]));
    return pairs[Symbol.iterator]();
  }

  entries(): IterableIterator<[string, string]> {
    return this[Symbol.iterator]();
  }
}

const UNSAFE = /[\r\n\0]/;

function checked(value: string | number): string {
  const v = String(value);
  if (UNSAFE.test(v)) throw new TypeError('A header value may not contain CR, LF or NUL.');
  return v;
}
