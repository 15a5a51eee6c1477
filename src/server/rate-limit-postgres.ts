import { InvalidOptionError } from '../errors.js';
import type { PgTransaction, Store } from '../store/types.js';
import { decideAll, expiresAt, type RateLimitConsume, type RateLimitDecision, type RateLimitStore, type RuleState } from './rate-limit-algorithms.js';

const NAMESPACE = 'weir:rate-limit';

/** A PostgreSQL `Store` (from `weir/store/postgres` or `openStore('postgres://…')`). */
export type PostgresStoreLike = Pick<Store, 'capabilities' | 'transaction'> & { readonly schema: string };

/**
 * Rate-limit state in PostgreSQL, for many instances that already share a database (no Redis):
 * rows of the store's key-value table (namespace `weir:rate-limit`), one per partition and policy.
 * Each request is one short transaction: the rows are locked by an upsert (in key order, so two
 * requests never deadlock), the same algorithms as the memory store decide, and the new states
 * are written only when every policy allows. Expired rows go with the store's `kv.purge()`.
 * Import from `weir/server`.
 *
 * @throws InvalidOptionError when `store` is not a PostgreSQL store.
 * @example
 * ```ts
 * const store = await openStore(process.env.DATABASE_URL!);
 * rateLimit({ policies: [{ name: 'default', limit: 100, windowMs: 60_000 }], store: postgresRateLimitStore(store) })
 * ```
 */
export function postgresRateLimitStore(store: PostgresStoreLike): RateLimitStore {
  if (store?.capabilities?.dialect !== 'postgres' || typeof store.schema !== 'string') {
    throw new InvalidOptionError('postgresRateLimitStore.store', 'a PostgreSQL Store', store);
  }
  const s = `"${store.schema}"`;
  const lock = `
INSERT INTO ${s}.kv AS kv (namespace, key, value, version, updated_at, expires_at)
SELECT $1::text, k, 'null'::jsonb, 1, $3::bigint, $3::bigint + 1 FROM unnest($2::text[]) AS k ORDER BY k
ON CONFLICT (namespace, key) DO UPDATE SET version = kv.version
RETURNING key, value`;
  const write = `
UPDATE ${s}.kv AS kv SET value = u.value, version = kv.version + 1, updated_at = $2, expires_at = u.exp
FROM unnest($3::text[], $4::jsonb[], $5::bigint[]) AS u(key, value, exp)
WHERE kv.namespace = $1 AND kv.key = u.key`;

  return {
    async consume(r: RateLimitConsume): Promise<readonly RateLimitDecision[]> {
      // Unambiguous row keys: the policy name is length-prefixed.
      const keys = r.rules.map((rule) => `${rule.name.length}:${rule.name}:${r.key}`);
      return store.transaction(async (tx) => {
        const client = tx as PgTransaction;
        const rows = (await client.query(lock, [NAMESPACE, keys.toSorted(), r.now])).rows as Array<{ key: string; value: unknown }>;
        const byKey = new Map(rows.map((row) => [row.key, row.value]));
        const states = keys.map((k) => {
          const v = byKey.get(k);
          return v === null || v === undefined ? undefined : ((typeof v === 'string' ? JSON.parse(v) : v) as RuleState);
        });
        const { decisions, next } = decideAll(r.rules, states, r.now, r.cost);
        if (next !== undefined) {
          const values = next.map((state) => JSON.stringify(state ?? null));
          const exps = next.map((state, i) => (state === undefined ? r.now + 1 : Math.ceil(expiresAt(r.rules[i]!, state))));
          await client.query(write, [NAMESPACE, r.now, keys, values, exps]);
        }
        return decisions;
      });
    },
  };
}
