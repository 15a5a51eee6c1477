import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import pg from 'pg';

/** Services the integration tests may need, on their default local ports. */
export type ServiceName = 'postgres' | 'redis' | 'rabbitmq' | 'nats';

const PORTS: Record<ServiceName, number> = { postgres: 5432, redis: 6379, rabbitmq: 5672, nats: 4222 };
const probes = new Map<ServiceName, Promise<boolean>>();

function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (up: boolean): void => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Is `name` listening on 127.0.0.1 at its default port? When it is not, the tests that need it
 * should be skipped (`describe.skipIf(!up)`): this prints a loud warning naming `skipping`.
 * With `WEIR_REQUIRE_SERVICES=1` (CI) a missing service throws instead, failing the run.
 *
 * @example
 * ```ts
 * const up = await service('postgres', 'store contract on PostgreSQL');
 * describe.skipIf(!up)('postgres store', () => { … });
 * ```
 */
export async function service(name: ServiceName, skipping = `tests that need ${name}`): Promise<boolean> {
  let p = probes.get(name);
  if (p === undefined) {
    p = probe(PORTS[name]);
    probes.set(name, p);
  }
  if (await p) return true;
  const message = `${name} is not listening on 127.0.0.1:${PORTS[name]}`;
  if (process.env.WEIR_REQUIRE_SERVICES === '1') throw new Error(`${message}, and WEIR_REQUIRE_SERVICES=1 requires it (${skipping}).`);
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n!! SKIPPED: ${skipping}\n!! because ${message}.\n!! (CI sets WEIR_REQUIRE_SERVICES=1 and fails instead.)\n${bar}\n`);
  return false;
}

let urlPromise: Promise<string> | undefined;

/**
 * A PostgreSQL URL that works on this machine: `WEIR_TEST_POSTGRES_URL` if set, else the first of
 * user `postgres` or `root` on database `postgres` or `test` (trust auth on 127.0.0.1:5432).
 * @throws Error when none connects.
 */
export function postgresUrl(): Promise<string> {
  urlPromise ??= (async () => {
    const fromEnv = process.env.WEIR_TEST_POSTGRES_URL;
    const candidates = fromEnv !== undefined ? [fromEnv] : [];
    for (const user of ['postgres', 'root']) {
      for (const db of ['postgres', 'test']) candidates.push(`postgres://${user}@127.0.0.1:5432/${db}`);
    }
    const errors: string[] = [];
    for (const url of candidates) {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return url;
      } catch (err) {
        errors.push(`${url}: ${(err as Error).message}`);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    throw new Error(`No PostgreSQL URL works:\n  ${errors.join('\n  ')}`);
  })();
  return urlPromise;
}

/**
 * A schema name unique to a test file and this process, e.g. `t_3f2a9c1d_12345`, so test files
 * run in parallel without sharing tables.
 */
export function testSchema(fileUrl: string, suffix = ''): string {
  const hash = createHash('sha1').update(fileUrl).digest('hex').slice(0, 8);
  return `t_${hash}_${process.pid}${suffix === '' ? '' : `_${suffix}`}`;
}

/** Drops schemas (CASCADE) on the test database. */
export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: await postgresUrl() });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
