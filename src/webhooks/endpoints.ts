import { InvalidOptionError } from '../errors.js';
import { finite } from '../internal/validate.js';
import { isSecret } from '../security/secret.js';
import type { KvStore } from '../store/kv.js';
import type { SigningSecret } from './verify.js';

/**
 * Endpoints of the webhook sender: their configuration (validated once), which events they take,
 * which secrets sign at a given time, and their durable state (disabled, failing since) and rate
 * limit, both kept in the store's kv — no table of their own.
 */

/** A signing secret, optionally bounded in time: how a rotation's overlap is written down. */
export type EndpointSecret =
  | SigningSecret
  | {
      readonly secret: SigningSecret;
      /** Signs from this time on (a `Date` or epoch ms). Default: always. */
      readonly notBefore?: Date | number;
      /** Stops signing at this time (the end of the overlap). Default: never. */
      readonly notAfter?: Date | number;
    };

/** Per-endpoint rate limit: at most `perSecond` deliveries per second, with bursts up to `burst`. */
export interface EndpointRateLimit {
  readonly perSecond: number;
  /** Deliveries allowed back to back. Default `max(1, ceil(perSecond))`. */
  readonly burst?: number;
}

/** One subscriber of the webhook sender. */
export interface WebhookEndpoint {
  /** Stable id: the message key, the audit `system` (unless `system` is set) and the state's kv key. `[A-Za-z0-9_.:-]`, 1 to 100 characters. */
  readonly id: string;
  /** `http:` or `https:` URL the events are POSTed to. */
  readonly url: string | URL;
  /** One secret, or several: during a rotation every active one signs (one `v1,` entry each). */
  readonly secret?: EndpointSecret;
  readonly secrets?: readonly EndpointSecret[];
  /** Event types it takes: exact names, `'customer.*'` prefixes, or `'*'`. Default `['*']`. */
  readonly events?: readonly string[];
  readonly rateLimit?: EndpointRateLimit;
  /** Extra headers sent with every delivery (never a signature header). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The `system` of its audit entries. Default: the id. */
  readonly system?: string;
}

/** Durable state of an endpoint. */
export interface EndpointState {
  readonly disabled: boolean;
  /** Why it was disabled: a 410 Gone, sustained failure, or by hand. */
  readonly reason: 'gone' | 'failing' | 'manual' | null;
  readonly disabledAt: number | null;
  /** When the current run of failures began (null after a success). */
  readonly failingSince: number | null;
}

export const HEALTHY: EndpointState = { disabled: false, reason: null, disabledAt: null, failingSince: null };

/** An endpoint after validation. */
export interface CompiledEndpoint {
  readonly id: string;
  readonly url: URL;
  readonly system: string;
  readonly secrets: ReadonlyArray<{ readonly secret: SigningSecret; readonly from: number; readonly until: number }>;
  readonly matches: (type: string) => boolean;
  readonly rate: { readonly intervalMs: number; readonly toleranceMs: number } | undefined;
  readonly headers: Readonly<Record<string, string>>;
}

const ID = /^[A-Za-z0-9_.:-]{1,100}$/;
const RESERVED = new Set(['webhook-id', 'webhook-timestamp', 'webhook-signature', 'content-type', 'content-length', 'host']);

/** Validates one endpoint. @throws InvalidOptionError naming `endpoints[i].<option>`. */
export function compileEndpoint(e: WebhookEndpoint, at: string): CompiledEndpoint {
  if (typeof e !== 'object' || e === null) throw new InvalidOptionError(at, 'an endpoint object', e);
  if (typeof e.id !== 'string' || !ID.test(e.id)) throw new InvalidOptionError(`${at}.id`, '1 to 100 characters of [A-Za-z0-9_.:-]', e.id);
  let url: URL;
  try {
    url = new URL(e.url);
  } catch {
    throw new InvalidOptionError(`${at}.url`, 'an absolute http(s) URL', e.url);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidOptionError(`${at}.url`, 'an http: or https: URL', url.protocol);
  if (e.secret !== undefined && e.secrets !== undefined) throw new InvalidOptionError(`${at}.secrets`, 'either secret or secrets, not both', 'both');
  const list = e.secret !== undefined ? [e.secret] : e.secrets;
  if (!Array.isArray(list) || list.length === 0) throw new InvalidOptionError(`${at}.secrets`, 'a secret, or a non-empty array of secrets', list);
  const secrets = list.map((s: EndpointSecret, i: number) => bounded(s, `${at}.secrets[${i}]`));
  const events = e.events ?? ['*'];
  if (!Array.isArray(events) || events.some((p) => typeof p !== 'string' || p.length === 0)) {
    throw new InvalidOptionError(`${at}.events`, "an array of event types, 'prefix.*' patterns or '*'", events);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(e.headers ?? {})) {
    const lower = name.toLowerCase();
    if (RESERVED.has(lower) || typeof value !== 'string') throw new InvalidOptionError(`${at}.headers.${name}`, 'a string value for a header Weir does not set itself', value);
    headers[lower] = value;
  }
  if (e.system !== undefined && (typeof e.system !== 'string' || e.system.length === 0)) throw new InvalidOptionError(`${at}.system`, 'a non-empty string', e.system);
  return { id: e.id, url, system: e.system ?? e.id, secrets, matches: matcher(events), rate: rateOf(e.rateLimit, `${at}.rateLimit`), headers };
}

function bounded(s: EndpointSecret, at: string): CompiledEndpoint['secrets'][number] {
  if (typeof s === 'string' || s instanceof Uint8Array || isSecret(s)) return { secret: s, from: Number.NEGATIVE_INFINITY, until: Number.POSITIVE_INFINITY };
  if (typeof s !== 'object' || s === null || !('secret' in s)) throw new InvalidOptionError(at, 'a secret or { secret, notBefore?, notAfter? }', '<redacted>');
  return { secret: s.secret, from: instant(s.notBefore, `${at}.notBefore`, Number.NEGATIVE_INFINITY), until: instant(s.notAfter, `${at}.notAfter`, Number.POSITIVE_INFINITY) };
}

function instant(value: Date | number | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = value instanceof Date ? value.getTime() : value;
  return finite(ms, option, Number.NEGATIVE_INFINITY);
}

function matcher(patterns: readonly string[]): (type: string) => boolean {
  if (patterns.includes('*')) return () => true;
  const exact = new Set(patterns.filter((p) => !p.endsWith('.*')));
  const prefixes = patterns.filter((p) => p.endsWith('.*')).map((p) => p.slice(0, -1));
  return (type) => exact.has(type) || prefixes.some((p) => type.startsWith(p));
}

function rateOf(r: EndpointRateLimit | undefined, at: string): CompiledEndpoint['rate'] {
  if (r === undefined) return undefined;
  const perSecond = finite(r.perSecond, `${at}.perSecond`, Number.MIN_VALUE);
  const burst = finite(r.burst ?? Math.max(1, Math.ceil(perSecond)), `${at}.burst`, 1);
  const intervalMs = 1000 / perSecond;
  return { intervalMs, toleranceMs: intervalMs * (burst - 1) };
}

/** The secrets that sign at `now` (all of them during a rotation's overlap). */
export function activeSecrets(e: CompiledEndpoint, now: number): SigningSecret[] {
  return e.secrets.filter((s) => s.from <= now && now < s.until).map((s) => s.secret);
}

/** Endpoint states and rate-limit cursors in the store's kv, under one namespace per sender topic. */
export class EndpointKv {
  private readonly stateNs: string;
  private readonly rateNs: string;

  constructor(
    private readonly kv: KvStore,
    topic: string,
  ) {
    this.stateNs = `weir.webhooks.state:${topic}`;
    this.rateNs = `weir.webhooks.rate:${topic}`;
  }

  async state(id: string, now: number): Promise<EndpointState> {
    return (await this.kv.get<EndpointState>(this.stateNs, id, now))?.value ?? HEALTHY;
  }

  /**
   * Changes the state with compare-and-set (several workers may report at once). `change` gets
   * the current state and returns the new one, or undefined to leave it; returns what was written.
   */
  async update(id: string, now: number, change: (s: EndpointState) => EndpointState | undefined): Promise<EndpointState | undefined> {
    for (let i = 0; i < 10; i++) {
      const entry = await this.kv.get<EndpointState>(this.stateNs, id, now);
      const next = change(entry?.value ?? HEALTHY);
      if (next === undefined) return undefined;
      if ((await this.kv.set(this.stateNs, id, next, { now, ifVersion: entry?.version ?? 0 })) !== null) return next;
    }
    return undefined;
  }

  /**
   * Takes one delivery slot of a rate limit (GCRA over a theoretical arrival time in kv, so every
   * process shares it). Returns 0 when the delivery may go now, else how long to wait, in ms.
   */
  async take(id: string, rate: NonNullable<CompiledEndpoint['rate']>, now: number): Promise<number> {
    for (let i = 0; i < 10; i++) {
      const entry = await this.kv.get<{ tat: number }>(this.rateNs, id, now);
      const tat = Math.max(entry?.value.tat ?? now, now);
      if (tat - now > rate.toleranceMs) return Math.ceil(tat - now - rate.toleranceMs);
      if ((await this.kv.set(this.rateNs, id, { tat: tat + rate.intervalMs }, { now, ifVersion: entry?.version ?? 0 })) !== null) return 0;
    }
    return Math.ceil(rate.intervalMs);
  }
}
