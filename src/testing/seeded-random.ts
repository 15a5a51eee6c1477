import { integer } from '../internal/validate.js';

/**
 * A small, fast, seeded pseudo-random source (mulberry32) returning numbers in [0, 1). The same
 * seed always yields the same sequence, so fault schedules, traffic and jitter are reproducible.
 * Not for anything security-related. Import from `weir/testing`.
 *
 * @param seed an integer from 0 to 2^32 - 1.
 * @throws InvalidOptionError (`WEIR_INVALID_OPTION`) when `seed` is not such an integer.
 * @example
 * ```ts
 * const random = seededRandom(42);
 * const coin = random() < 0.5;
 * ```
 */
export function seededRandom(seed: number): () => number {
  let state = integer(seed, 'seed', 0, 0xffff_ffff) >>> 0;
  return function random(): number {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
