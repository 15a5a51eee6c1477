import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { isWeirError, type WeirError } from '../errors.js';
import { isSecret, Secret, secret, secrets } from './secret.js';

const canary = () => `CANARY${randomBytes(16).toString('hex')}`;

/** Fails if any 8-character run of the canary's random part appears in `text`. */
function expectNoCanary(text: string, value: string): void {
  const random = value.slice('CANARY'.length);
  for (let i = 0; i + 8 <= random.length; i++) expect(text.includes(random.slice(i, i + 8)), `leaked "${random.slice(i, i + 8)}"`).toBe(false);
}

/** Every byte a Console writes for these calls. */
function written(fn: (c: Console) => void): string {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString('utf8');
      cb();
    },
  });
  fn(new Console({ stdout: sink, stderr: sink }));
  return out;
}

function failure(fn: () => unknown): WeirError {
  try {
    fn();
  } catch (err) {
    if (isWeirError(err)) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

/** Everything an error can show: message, stack, JSON, inspect (with hidden fields). */
function allViews(err: Error): string {
  return [err.message, err.stack, JSON.stringify(err), inspect(err, { showHidden: true, depth: null }), written((c) => c.error(err))].join('\n');
}

const dir = mkdtempSync(join(tmpdir(), 'weir-secret-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('secret', () => {
  it('reads the value from the environment and reveals it only on request', () => {
    const value = canary();
    const s = secret('API_KEY', { env: { API_KEY: value } });
    expect(s.reveal()).toBe(value);
    expect(s.name).toBe('API_KEY');
    expect(isSecret(s)).toBe(true);
  });

  it('never prints itself: toString, templates, JSON, inspect, console, spread, clone', () => {
    const value = canary();
    const s = secret('API_KEY', { env: { API_KEY: value } });
    expect(String(s)).toBe('[secret API_KEY]');
    expect(`${s}`).toBe('[secret API_KEY]');
    expect(JSON.stringify({ s })).toBe('{"s":"[secret API_KEY]"}');
    expect(inspect(s)).toBe('[secret API_KEY]');
    const views = [
      inspect({ nested: { s } }, { depth: null, showHidden: true }),
      inspect(s, { customInspect: false, showHidden: true, depth: null }),
      JSON.stringify({ ...s }),
      JSON.stringify(Object.getOwnPropertyNames(s).map((k) => (s as unknown as Record<string, unknown>)[k])),
      inspect(structuredClone(s), { showHidden: true }),
      String(s.toString()) + s.toJSON() + (s as unknown as string),
      written((c) => {
        c.log(s);
        c.log('%s %o %O %j %d', s, s, s, s, s);
        c.dir({ s }, { showHidden: true, depth: null });
        c.table([{ s }]);
      }),
    ].join('\n');
    expectNoCanary(views, value);
  });

  it('reads NAME_FILE (trailing line breaks removed) by default', () => {
    const value = canary();
    const path = join(dir, 'api-key');
    writeFileSync(path, `${value}\r\n`);
    expect(secret('API_KEY', { env: { API_KEY_FILE: path } }).reveal()).toBe(value);
    expect(failure(() => secret('API_KEY', { env: { API_KEY_FILE: path }, file: false })).details).toMatchObject({ reason: 'missing' });
  });

  it.each([
    ['missing', {}],
    ['empty', { API_KEY: '   ' }],
    ['ambiguous', { API_KEY: 'x', API_KEY_FILE: '/x' }],
  ])('reports a %s secret with WEIR_SECRET_MISSING naming the variable', (reason, env) => {
    const err = failure(() => secret('API_KEY', { env }));
    expect(err.code).toBe('WEIR_SECRET_MISSING');
    expect(err.classification).toBe('permanent');
    expect(err.details).toEqual({ variable: 'API_KEY', reason });
    expect(err.message).toContain('API_KEY');
  });

  it('an unreadable file names neither the path nor the value (a value pasted into NAME_FILE)', () => {
    const value = canary();
    const err = failure(() => secret('API_KEY', { env: { API_KEY_FILE: join(dir, value) } }));
    expect(err.details).toEqual({ variable: 'API_KEY', reason: 'unreadable' });
    expectNoCanary(allViews(err), value);
  });

  it('an invalid value is reported without the value, even when the validator quotes it', () => {
    const value = canary();
    const echo = failure(() => secret('API_KEY', { env: { API_KEY: value }, validate: (v) => `"${v}" is bad; starts with ${v.slice(0, 12)}, ends ${v.slice(-9)}` }));
    expect(echo.details).toEqual({ variable: 'API_KEY', reason: 'invalid' });
    expectNoCanary(allViews(echo), value);
    const thrown = failure(() =>
      secret('API_KEY', {
        env: { API_KEY: value },
        validate: (v) => {
          throw new Error(`cannot parse ${v}`);
        },
      }),
    );
    expect(thrown.details).toMatchObject({ reason: 'invalid' });
    expectNoCanary(allViews(thrown), value);
    expect(secret('API_KEY', { env: { API_KEY: value }, validate: () => undefined }).reveal()).toBe(value);
  });

  it('optional: missing gives undefined, invalid still fails', () => {
    expect(secret('API_KEY', { env: {}, optional: true })).toBeUndefined();
    expect(failure(() => secret('API_KEY', { env: { API_KEY: 'x' }, optional: true, validate: () => 'too short' })).code).toBe('WEIR_SECRET_MISSING');
  });

  it('rejects bad options eagerly', () => {
    expect(() => secret('not a name')).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION' }));
    expect(() => secret('A', { env: { A: 'x' }, validate: 'no' as never })).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION' }));
    expect(() => Secret.of('A', '')).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION' }));
  });

  it('is recognised across copies of the package by its brand', () => {
    const foreign = { name: 'X' };
    Object.defineProperty(foreign, Symbol.for('weir.secret'), { value: true });
    expect(isSecret(foreign)).toBe(true);
    expect(isSecret({ name: 'X', reveal: () => 'x' })).toBe(false);
  });
});

describe('secrets', () => {
  it('loads several at once', () => {
    const a = canary();
    const got = secrets({ crm: 'CRM_KEY', hook: { name: 'HOOK_SECRET' }, extra: { name: 'EXTRA', optional: true } }, { env: { CRM_KEY: a, HOOK_SECRET: 'h' } });
    expect(got.crm.reveal()).toBe(a);
    expect(got.hook.reveal()).toBe('h');
    expect(got.extra).toBeUndefined();
  });

  it('reports every problem in one error, with no value in it', () => {
    const value = canary();
    const err = failure(() =>
      secrets(
        { a: 'A_KEY', b: 'B_KEY', c: { name: 'C_KEY', validate: (v) => `bad ${v}` }, d: 'D_KEY' },
        { env: { C_KEY: value, D_KEY: 'fine' } },
      ),
    );
    expect(err.code).toBe('WEIR_SECRET_MISSING');
    expect(err.details.variables).toEqual(['A_KEY', 'B_KEY', 'C_KEY']);
    expect((err.details.problems as Array<{ reason: string }>).map((p) => p.reason)).toEqual(['missing', 'missing', 'invalid']);
    expectNoCanary(allViews(err), value);
  });
});

describe('in a real process', () => {
  it('no byte the process writes (stdout, stderr, an uncaught start-up error) contains the value', () => {
    const value = canary();
    const moduleUrl = new URL('./secret.ts', import.meta.url).href;
    const script = join(dir, 'child.ts');
    writeFileSync(
      script,
      [
        `import { secret, secrets } from ${JSON.stringify(moduleUrl)};`,
        `const s = secret('CHILD_KEY');`,
        `console.log(s, { s }, [s], String(s), JSON.stringify({ s }));`,
        `console.error('%o', s);`,
        `secrets({ a: 'CHILD_KEY', b: { name: 'CHILD_KEY', validate: (v) => 'rejected ' + v }, c: 'CHILD_MISSING' });`,
      ].join('\n'),
    );
    const res = spawnSync(process.execPath, ['--import', 'tsx', script], {
      env: { ...process.env, CHILD_KEY: value },
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      timeout: 30_000,
    });
    expect(res.status).not.toBe(0); // the start-up check threw
    expect(res.stderr).toContain('WEIR_SECRET_MISSING');
    expect(res.stdout).toContain('[secret CHILD_KEY]');
    expectNoCanary(res.stdout + res.stderr, value);
  });
});
