import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { request } from 'undici';
import { expect } from 'vitest';
import type { AuthFailure, AuthRequest, HttpAuth } from '../../src/http/auth.js';

/** A temp directory removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `weir-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function authRequest(url: string, signal?: AbortSignal): AuthRequest {
  return { method: 'GET', url: new URL(url), headers: {}, ...(signal === undefined ? {} : { signal }) };
}

/**
 * One logical call the way the connection makes it: `apply()`, send with undici, and on a 401 one
 * `onUnauthorized()` and at most one more attempt.
 */
export async function call(auth: HttpAuth, url: string): Promise<{ status: number; attempts: number; body: unknown }> {
  for (let attempt = 1; ; attempt++) {
    const req = authRequest(url);
    await auth.apply(req);
    const res = await request(url, { headers: req.headers });
    const body: unknown = await res.body.json();
    if (res.statusCode !== 401 || attempt === 2 || auth.onUnauthorized === undefined) return { status: res.statusCode, attempts: attempt, body };
    const failure: AuthFailure = { status: 401, headers: res.headers, error: (body as { error?: string }).error, request: req };
    if (!(await auth.onUnauthorized(failure))) return { status: res.statusCode, attempts: attempt, body };
  }
}

/**
 * Canary check: no 8-character run of any secret appears in the error's message, stack, JSON,
 * `util.inspect` (with its cause chain), nor in the same views of `extra` objects.
 */
export function expectNoLeak(secrets: readonly string[], ...things: unknown[]): void {
  const views: string[] = [];
  for (const t of things) {
    views.push(inspect(t, { depth: 8, showHidden: false }), safeJson(t), String(t));
    if (t instanceof Error) views.push(t.message, t.stack ?? '');
  }
  const text = views.join('\n');
  for (const s of secrets) {
    for (let i = 0; i + 8 <= s.length; i++) {
      const run = s.slice(i, i + 8);
      if (text.includes(run)) expect.fail(`secret run ${JSON.stringify(run.slice(0, 2))}… leaked into: ${text.slice(Math.max(0, text.indexOf(run) - 80), text.indexOf(run) + 20).replace(run, '<RUN>')}`);
    }
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

/** Awaits `p` and returns its rejection (fails when it resolves). */
export async function rejection(p: unknown): Promise<Error & { code?: string; details?: Record<string, unknown>; classification?: string; retryAfterMs?: number }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  return expect.fail('expected a rejection');
}
