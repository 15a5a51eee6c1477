import { InvalidOptionError } from '../errors.js';

/** Eager option checks: each throws {@link InvalidOptionError} naming the option. */
export function integer(value: unknown, option: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, `an integer from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'any' : max}`, value);
  }
  return value;
}

export function finite(value: unknown, option: string, min: number, max = Number.POSITIVE_INFINITY): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidOptionError(option, `a finite number from ${min}${max === Number.POSITIVE_INFINITY ? '' : ` to ${max}`}`, value);
  }
  return value;
}

export function oneOf<T extends string>(value: unknown, option: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidOptionError(option, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}

export function fn<T extends (...args: never[]) => unknown>(value: unknown, option: string): T {
  if (typeof value !== 'function') throw new InvalidOptionError(option, 'a function', value);
  return value as T;
}
