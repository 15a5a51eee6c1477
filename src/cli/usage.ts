import { InvalidArgumentError } from 'commander';
import { InvalidOptionError } from '../errors.js';
import { toMs } from '../internal/duration.js';

/** Exit code of a usage error (a bad option, argument or environment variable). */
export const EXIT_USAGE = 2;
/** Exit code of a failure (the store is unreachable, an id is not found, …). */
export const EXIT_FAILURE = 1;

/**
 * A usage error found after parsing (a bad environment variable, options that exclude each other):
 * an `InvalidOptionError` naming the option or variable, with a hint saying what to do, that the
 * program turns into exit code 2.
 */
export class UsageError extends InvalidOptionError {
  readonly exitCode = EXIT_USAGE;

  constructor(option: string, expected: string, received: unknown, hint: string) {
    super(option, expected, received);
    this.message = `${this.message} ${hint}`;
  }
}

/**
 * Ends the program with `exitCode` without printing anything more: the command has already written
 * its result (for example a replay where some ids were not dead letters).
 */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'CliExit';
  }
}

/** Parser of an integer option from `min` to `max` (commander reports a rejection as a usage error naming the option). */
export function intOption(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}.`);
    return n;
  };
}

/** Parser of a positive rate (per second). */
export function rateOption(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1_000_000) throw new InvalidArgumentError('expected a number per second above 0 (e.g. 10 or 0.5).');
  return n;
}

/**
 * Parser of `--since`: an ISO 8601 time (`2026-05-01`, `2026-05-01T12:00:00Z`) or a duration back
 * from now (`30m`, `2h`, `7d`). Returns epoch ms.
 */
export function sinceOption(value: string, now: () => number = Date.now): number {
  const text = value.trim();
  if (/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/.test(text)) return now() - toMs(text, '--since');
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const at = Date.parse(text);
    if (Number.isFinite(at)) return at;
  }
  throw new InvalidArgumentError("expected an ISO time (2026-05-01T12:00:00Z) or a duration back from now ('30m', '2h', '7d').");
}

/**
 * Parser of a duration option (`'30s'`, `'24h'`, `'7d'`, `'500ms'`, or a number of ms) into ms;
 * `min`/`max` bound it (ms).
 */
export function durationOption(name: string, min = 0, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const text = value.trim();
    const ms = /^\d+$/.test(text) ? Number(text) : /^\d+(\.\d+)?\s*(ms|s|m|h|d)$/.test(text) ? toMs(text, name) : Number.NaN;
    if (!Number.isFinite(ms) || ms < min || ms > max) throw new InvalidArgumentError(`expected a duration such as '30s', '15m', '24h' or '7d'${min > 0 ? ` of at least ${min} ms` : ''}.`);
    return ms;
  };
}

/** Parser of a number of seconds from `min` to `max` (fractions allowed). */
export function secondsOption(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expected a number of seconds from ${min} to ${max}.`);
    return n;
  };
}

/** Parser of a seed: a non-negative integer. */
export function seedOption(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 0xffff_fff0) throw new InvalidArgumentError('expected a non-negative integer.');
  return n;
}
