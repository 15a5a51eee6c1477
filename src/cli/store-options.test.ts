import { describe, expect, it } from 'vitest';
import { resolveStoreLocation } from './store-options.js';

const cwd = '/srv/app';

describe('resolveStoreLocation', () => {
  it('prefers --store, then WEIR_STORE_URL, then WEIR_DATA_DIR, then ./.weir', () => {
    const env = { WEIR_STORE_URL: 'sqlite:env.db', WEIR_DATA_DIR: '/data' };
    expect(resolveStoreLocation({ store: 'sqlite:flag.db' }, env, cwd)).toMatchObject({ url: 'sqlite:/srv/app/flag.db', source: '--store' });
    expect(resolveStoreLocation({}, env, cwd)).toMatchObject({ url: 'sqlite:/srv/app/env.db', source: 'WEIR_STORE_URL' });
    expect(resolveStoreLocation({}, { WEIR_DATA_DIR: 'var' }, cwd)).toMatchObject({ url: 'sqlite:/srv/app/var/weir.db', source: 'WEIR_DATA_DIR' });
    expect(resolveStoreLocation({}, { WEIR_STORE_URL: ' ' }, cwd)).toMatchObject({ url: 'sqlite:/srv/app/.weir/weir.db', source: 'default', dialect: 'sqlite' });
  });

  it('accepts PostgreSQL URLs and hides the password in the display form', () => {
    const loc = resolveStoreLocation({ store: 'postgres://app:s3cret@db:5432/app' }, {}, cwd);
    expect(loc).toMatchObject({ dialect: 'postgres', url: 'postgres://app:s3cret@db:5432/app', file: undefined });
    expect(loc.display).toBe('postgres://app:***@db:5432/app');
  });

  it.each([
    [{ store: 'mysql://db/x' }, {}, '--store'],
    [{ store: 'sqlite:' }, {}, '--store'],
    [{ store: 'sqlite::memory:' }, {}, '--store'],
    [{ store: 'postgres://' }, {}, '--store'],
    [{}, { WEIR_STORE_URL: 'weir.db' }, 'WEIR_STORE_URL'],
  ])('rejects %j %j naming %s, with exit code 2', (options, env, option) => {
    let error: unknown;
    try {
      resolveStoreLocation(options, env, cwd);
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'WEIR_INVALID_OPTION', option, exitCode: 2 });
    expect((error as Error).message).not.toContain('s3cret');
  });
});
