import { InvalidOptionError } from '../errors.js';

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const pattern = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** A duration: milliseconds as a number, or a string such as `'250ms'`, `'5s'`, `'30m'`, `'2h'`, `'1d'`. */
export type Duration = number | string;

/**
 * Parses a {@link Duration} into milliseconds.
 * @throws InvalidOptionError naming `option` when the value is not a finite, non-negative duration.
 */
export function toMs(value: Duration, option: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else if (typeof value === 'string') {
    const match = pattern.exec(value.trim());
    if (match) return Number(match[1]) * (units[match[2] as string] as number);
  }
  throw new InvalidOptionError(option, "a non-negative number of ms or a string like '500ms', '5s', '5m', '2h', '1d'", value);
}
