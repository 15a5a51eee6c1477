import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One entry of shared/vectors/standard-webhooks.json. */
export interface StandardWebhooksVector {
  name: string;
  secret: string;
  publicKey?: string;
  id: string;
  timestamp: number;
  payload: string | null;
  payloadRepeat?: { char: string; count: number };
  signature: string;
  valid: boolean;
  toleranceSeconds: number;
  now: number;
  libraryResults: Record<string, boolean | string>;
}

/** One entry of shared/vectors/webhook-formats.json. */
export interface FormatVector {
  name: string;
  provider: 'github' | 'slack' | 'stripe' | 'shopify' | 'convoy';
  algorithm?: string;
  advanced?: boolean;
  hash?: string;
  encoding?: string;
  secret: string;
  payload: string;
  headers: Record<string, string>;
  timestamp?: number;
  now?: number;
  toleranceSeconds?: number;
  valid: boolean;
}

/**
 * Reads a vector file from `shared/vectors/` beside the repository. The vectors are required
 * evidence: when the folder is missing the suite fails here, loudly, instead of skipping.
 */
export function loadVectors<T>(file: 'standard-webhooks.json' | 'webhook-formats.json'): T[] {
  const url = new URL(`../../../shared/vectors/${file}`, import.meta.url);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(url, 'utf8'));
  } catch (err) {
    throw new Error(
      `Required test vectors missing or unreadable: ${fileURLToPath(url)} (shared/vectors/ must sit beside the repository). ${String(err)}`,
      { cause: err },
    );
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new Error(`Test vector file ${fileURLToPath(url)} holds no vectors.`);
  return parsed as T[];
}

/** The payload of a Standard Webhooks vector, expanding `payloadRepeat`. */
export function payloadOf(v: StandardWebhooksVector): string {
  if (v.payload !== null) return v.payload;
  if (v.payloadRepeat === undefined) throw new Error(`vector ${v.name} has neither payload nor payloadRepeat`);
  return v.payloadRepeat.char.repeat(v.payloadRepeat.count);
}

/** Runs `fn` and returns `'ok'` or the Weir error code it threw (anything else is rethrown). */
export function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('WEIR_')) return code;
    throw err;
  }
}

/** Runs `fn`, expecting a Weir error, and returns it. */
export function caught(fn: () => unknown): { code: string; message: string; details: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string; details: Record<string, unknown> };
  }
  throw new Error('expected an error, none was thrown');
}
