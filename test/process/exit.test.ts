import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('a process using the policies exits by itself when its work is done (no timer outlives its call)', () => {
  const fixture = fileURLToPath(new URL('./exit-fixture.ts', import.meta.url));
  // 20 s is only a guard against hanging the suite: any policy timer left behind would hold the
  // process for 30-60 s, so a pass means none was left.
  const run = spawnSync(process.execPath, ['--import', 'tsx', fixture], { encoding: 'utf8', timeout: 20_000 });
  expect(run.signal).toBeNull();
  expect(run.status).toBe(0);
  expect(run.stdout).toContain('done 1000');
});
