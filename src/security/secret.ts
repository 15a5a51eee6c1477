import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { InvalidOptionError, WeirError } from '../errors.js';

/**
 * Secrets read from the environment (or a file it names), validated at start-up, and unprintable:
 * `String()`, template literals, `JSON.stringify`, `util.inspect` and `console.log` all show
 * `[secret NAME]`. Only {@link Secret.reveal} gives the value. Import from `weir/security`.
 */

const brand = Symbol.for('weir.secret');
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A secret value that never prints itself. Create with {@link secret}, or {@link Secret.of} for values from elsewhere. */
export class Secret {
  declare readonly [brand]: true;
  /** The environment variable (or label) the secret came from; safe to print. */
  readonly name: string;
  readonly #value: string;

  private constructor(name: string, value: string) {
    this.name = name;
    this.#value = value;
    Object.defineProperty(this, brand, { value: true });
    Object.freeze(this);
  }

  /**
   * Wraps a value obtained some other way (a vault, a config service) so it cannot be printed.
   * @throws {InvalidOptionError} when `name` is empty or `value` is not a non-empty string.
   */
  static of(name: string, value: string): Secret {
    if (typeof name !== 'string' || name === '') throw new InvalidOptionError('secret.name', 'a non-empty string', name);
    if (typeof value !== 'string' || value === '') throw new InvalidOptionError('secret.value', 'a non-empty string', '<redacted>');
    return new Secret(name, value);
  }

  /** The value. Call it at the point of use (a header, a key derivation), never to log. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return `[secret ${this.name}]`;
  }
  toJSON(): string {
    return this.toString();
  }
  [Symbol.toPrimitive](): string {
    return this.toString();
  }
  [inspect.custom](): string {
    return this.toString();
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [brand]?: unknown })[brand] === true;
  }
}

/** True when `value` is a {@link Secret} (from any copy of the package). */
export function isSecret(value: unknown): value is Secret {
  return value instanceof Secret;
}

export interface SecretOptions {
  /** Where to read variables. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Also accept `NAME_FILE`: the path of a file holding the value (Docker/Kubernetes secrets);
   * trailing line breaks are removed. Setting both `NAME` and `NAME_FILE` is an error. Default `true`.
   */
  file?: boolean;
  /**
   * Checks the value; returns a description of what is wrong, or `undefined` when it is fine.
   * Describe the problem, don't quote the value: any part of it found in the message is removed anyway.
   */
  validate?: (value: string) => string | undefined;
  /** When true a missing secret gives `undefined` instead of an error (an invalid one still fails). Default `false`. */
  optional?: boolean;
}

/** Why a secret could not be loaded (in `err.details`). */
export type SecretProblemReason = 'missing' | 'empty' | 'invalid' | 'unreadable' | 'ambiguous';

export interface SecretProblem {
  /** The environment variable to fix. */
  readonly variable: string;
  readonly reason: SecretProblemReason;
  /** What is wrong and what to do; never contains the value. */
  readonly message: string;
}

/**
 * Reads a secret from the environment variable `name`, or from the file named by `name_FILE`.
 *
 * @throws {WeirError} `WEIR_SECRET_MISSING` when the secret is missing, empty, unreadable, set twice
 *   or rejected by `validate`: the message names the variable and what to do, never the value
 *   (`details: { variable, reason }`).
 * @throws {InvalidOptionError} when `name` is not a valid variable name.
 * @example
 * ```ts
 * const apiKey = secret('CRM_API_KEY', { validate: (v) => (v.startsWith('sk_') ? undefined : 'must start with sk_') });
 * fetch(url, { headers: { authorization: `Bearer ${apiKey.reveal()}` } });
 * ```
 */
export function secret(name: string, o: SecretOptions & { optional: true }): Secret | undefined;
export function secret(name: string, o?: SecretOptions): Secret;
export function secret(name: string, o: SecretOptions = {}): Secret | undefined {
  const result = load(name, o, 'secret');
  if (result instanceof Secret || result === undefined) return result;
  throw new WeirError('WEIR_SECRET_MISSING', result.message, { details: { variable: result.variable, reason: result.reason } });
}

/** One entry of {@link secrets}: a variable name, or a name with options. */
export type SecretSpec = string | (SecretOptions & { name: string });
type Loaded<S> = S extends { optional: true } ? Secret | undefined : Secret;

/**
 * Loads several secrets at once, at start-up, and reports every problem in one error.
 *
 * @throws {WeirError} `WEIR_SECRET_MISSING` listing each variable to fix (`details.problems`:
 *   `{ variable, reason, message }[]`), never a value.
 * @example
 * ```ts
 * const { crmKey, webhookSecret } = secrets({ crmKey: 'CRM_API_KEY', webhookSecret: { name: 'WEBHOOK_SECRET', file: true } });
 * ```
 */
export function secrets<const T extends Readonly<Record<string, SecretSpec>>>(
  specs: T,
  o: Pick<SecretOptions, 'env' | 'file'> = {},
): { [K in keyof T]: Loaded<T[K]> } {
  const out: Record<string, Secret | undefined> = {};
  const problems: SecretProblem[] = [];
  for (const [key, spec] of Object.entries(specs)) {
    const { name, ...options } = typeof spec === 'string' ? { name: spec } : spec;
    const result = load(name, { ...o, ...options }, `secrets.${key}`);
    if (result instanceof Secret || result === undefined) out[key] = result;
    else problems.push(result);
  }
  if (problems.length > 0) {
    const lines = problems.map((p) => `  - ${p.message}`).join('\n');
    throw new WeirError('WEIR_SECRET_MISSING', `${problems.length} secret(s) missing or invalid:\n${lines}`, {
      details: { variables: problems.map((p) => p.variable), problems },
    });
  }
  return out as { [K in keyof T]: Loaded<T[K]> };
}

function load(name: string, o: SecretOptions, option: string): Secret | SecretProblem | undefined {
  if (typeof name !== 'string' || !NAME.test(name)) throw new InvalidOptionError(`${option}.name`, 'an environment variable name', name);
  if (o.validate !== undefined && typeof o.validate !== 'function') throw new InvalidOptionError(`${option}.validate`, 'a function', o.validate);
  const env = o.env ?? process.env;
  const fileVar = `${name}_FILE`;
  const useFile = o.file ?? true;
  const direct = env[name];
  const path = useFile ? env[fileVar] : undefined;
  const problem = (reason: SecretProblemReason, message: string): SecretProblem => ({ variable: name, reason, message });

  if (direct !== undefined && path !== undefined) {
    return problem('ambiguous', `Secret ${name} is set both in ${name} and ${fileVar}: keep only one of them.`);
  }
  let value = direct;
  let source = name;
  if (path !== undefined) {
    source = fileVar;
    try {
      value = readFileSync(path, 'utf8').replace(/[\r\n]+$/, '');
    } catch (err) {
      // Neither the path nor the error text is shown: a value pasted into NAME_FILE by mistake would leak.
      const code = (err as { code?: unknown }).code;
      return problem('unreadable', `Secret ${name} could not be read from the file named by ${fileVar}${typeof code === 'string' ? ` (${code})` : ''}: check the path and its permissions.`);
    }
  }
  if (value === undefined) {
    if (o.optional === true) return undefined;
    const how = useFile ? `set the environment variable ${name}, or ${fileVar} to the path of a file holding it` : `set the environment variable ${name}`;
    return problem('missing', `Secret ${name} is not set: ${how}.`);
  }
  if (value.trim() === '') return problem('empty', `Secret ${name} is empty: give ${source} a value.`);
  if (o.validate !== undefined) {
    let complaint: string | undefined;
    try {
      complaint = o.validate(value);
    } catch (err) {
      complaint = err instanceof Error ? err.message : 'the validator threw';
    }
    if (complaint !== undefined) {
      const safe = scrub(String(complaint), value, name);
      return problem('invalid', `Secret ${name} is invalid: ${safe}. Fix the value of ${source}.`);
    }
  }
  return Secret.of(name, value);
}

/** Removes from a message every run of four or more characters taken from the value (and the value itself). */
function scrub(message: string, value: string, name: string): string {
  const marker = `[secret ${name}]`;
  const text = message.slice(0, 500);
  let out = '';
  let i = 0;
  while (i < text.length) {
    let len = 0;
    while (i + len < text.length && value.includes(text.slice(i, i + len + 1))) len++;
    if (len >= 4 || (len > 0 && len === value.length)) {
      out += marker;
      i += len;
    } else {
      out += text[i];
      i++;
    }
  }
  return out;
}
