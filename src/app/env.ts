import { WeirError } from '../errors.js';
import { Secret } from '../security/secret.js';

/**
 * Typed environment variables, validated at start-up. A config names the variables it needs with
 * {@link env} and gets their parsed values; every problem is reported at once, naming the variable
 * and what to do, never quoting a secret.
 */

/** One problem with one variable. */
export interface ConfigProblem {
  /** The environment variable (or config field) to fix. */
  readonly variable: string;
  /** What is wrong and what to do; never contains a secret's value. */
  readonly message: string;
}

/** `WEIR_CONFIG_INVALID`: the configuration cannot start. `details.problems` lists every problem. */
export class ConfigError extends WeirError<'WEIR_CONFIG_INVALID'> {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[], source = 'the configuration') {
    const lines = problems.map((p) => `  - ${p.variable}: ${p.message}`).join('\n');
    super('WEIR_CONFIG_INVALID', `Invalid ${source} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines}`, {
      details: { problems: problems.map((p) => ({ ...p })) },
    });
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A variable's parser: returns the value, or throws a `string` saying what is wrong. */
export interface EnvVar<T> {
  /** What the variable must hold, for messages and `weir start --help`. */
  readonly expects: string;
  /** True when the value must never be printed. */
  readonly secret: boolean;
  /** Parses the raw value (`undefined` when unset or empty). @throws string */
  parse(raw: string | undefined, name: string): T;
}

/** The parsed values of an env schema. */
export type EnvValues<S> = { readonly [K in keyof S]: S[K] extends EnvVar<infer T> ? T : never };
export type EnvSchema = Readonly<Record<string, EnvVar<unknown>>>;

interface Common<T> {
  /** The value when the variable is unset or empty. */
  readonly default?: T;
}

function variable<T>(expects: string, convert: (raw: string) => T, o: Common<T> & { optional?: boolean } = {}, secret = false): EnvVar<T> {
  return {
    expects,
    secret,
    parse(raw) {
      if (raw === undefined || raw.trim() === '') {
        if (o.default !== undefined) return o.default;
        if (o.optional === true) return undefined as T;
        throw `is not set; set it to ${expects}`;
      }
      return convert(raw.trim());
    },
  };
}

function integer(raw: string, min: number, max: number, what: string): number {
  if (!/^-?\d+$/.test(raw)) throw `must be ${what}, got "${raw.slice(0, 40)}"`;
  const n = Number(raw);
  if (n < min || n > max) throw `must be ${what}, got ${n}`;
  return n;
}

type Opt<T> = Common<T> & { readonly optional?: false };
type OptUndef = { readonly optional: true; readonly default?: undefined };

/** Variable declarations for a config's `env`. */
export const env = {
  /** Any non-empty string. */
  string(o: Opt<string> & { readonly pattern?: RegExp; readonly hint?: string } = {}): EnvVar<string> {
    return variable('a non-empty string', (raw) => {
      if (o.pattern !== undefined && !o.pattern.test(raw)) throw `must match ${o.hint ?? String(o.pattern)}`;
      return raw;
    }, o);
  },
  /** An absolute http(s) URL, without a trailing slash. */
  url: ((o: Opt<string> | OptUndef = {}) =>
    variable<string | undefined>('an http:// or https:// URL (e.g. http://127.0.0.1:8080)', (raw) => {
      let u: URL;
      try {
        u = new URL(raw);
      } catch {
        throw `must be an absolute http(s) URL (e.g. http://127.0.0.1:8080), got "${raw.slice(0, 80)}"`;
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw `must use http or https, got ${u.protocol}`;
      return raw.replace(/\/+$/, '');
    }, o)) as {
    (o?: Opt<string>): EnvVar<string>;
    (o: OptUndef): EnvVar<string | undefined>;
  },
  /** A TCP port, 0–65535 (0: any free port). */
  port(o: Opt<number> = {}): EnvVar<number> {
    return variable('a TCP port number (1-65535, or 0 for any free port)', (raw) => integer(raw, 0, 65_535, 'a port number 0-65535'), o);
  },
  /** An integer within bounds. */
  int(o: Opt<number> & { readonly min?: number; readonly max?: number } = {}): EnvVar<number> {
    const min = o.min ?? Number.MIN_SAFE_INTEGER;
    const max = o.max ?? Number.MAX_SAFE_INTEGER;
    const what = o.min !== undefined && o.max !== undefined ? `an integer ${min}-${max}` : o.min !== undefined ? `an integer >= ${min}` : 'an integer';
    return variable(what, (raw) => integer(raw, min, max, what), o);
  },
  /** A secret: kept as a {@link Secret} that never prints its value. */
  secret(o: { readonly minLength?: number } = {}): EnvVar<Secret> {
    return variable<string>('a secret value', (raw) => {
      if (o.minLength !== undefined && raw.length < o.minLength) throw `must be at least ${o.minLength} characters long`;
      return raw;
    }, {}, true) as unknown as EnvVar<Secret>;
  },
  /** A file-system path. */
  path(o: Opt<string> = {}): EnvVar<string> {
    return variable('a file-system path', (raw) => raw, o);
  },
} as const;

/**
 * Reads every variable of `schema` from `source`.
 * @throws ConfigError listing every missing or malformed variable.
 */
export function readEnv<S extends EnvSchema>(schema: S, source: Readonly<Record<string, string | undefined>> = process.env): EnvValues<S> {
  const out: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  for (const [name, spec] of Object.entries(schema)) {
    try {
      const value = spec.parse(source[name], name);
      out[name] = spec.secret && typeof value === 'string' ? Secret.of(name, value) : value;
    } catch (err) {
      const message = typeof err === 'string' ? err : err instanceof Error ? err.message : String(err);
      problems.push({ variable: name, message });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems, 'environment');
  return out as EnvValues<S>;
}
