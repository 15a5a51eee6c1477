import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dir(pkg?: object): string {
  const d = mkdtempSync(join(tmpdir(), 'weir-load-'));
  dirs.push(d);
  if (pkg !== undefined) writeFileSync(join(d, 'package.json'), JSON.stringify(pkg));
  return d;
}
const config = "const answer: number = 42;\nexport default { name: 'loaded', setup() { return answer; } };\n";

describe('loadConfig', () => {
  it('loads a TypeScript config without a build step', async () => {
    const d = dir({ type: 'module' });
    writeFileSync(join(d, 'weir.config.ts'), config);
    const c = await loadConfig(join(d, 'weir.config.ts'));
    expect(c.name).toBe('loaded');
    expect(typeof c.setup).toBe('function');
  });

  it('loads a .mts config anywhere', async () => {
    const d = dir();
    writeFileSync(join(d, 'weir.config.mts'), config);
    expect((await loadConfig(join(d, 'weir.config.mts'))).name).toBe('loaded');
  });

  it('refuses a .ts config that would load as CommonJS, saying what to do', async () => {
    const d = dir({ name: 'x' });
    writeFileSync(join(d, 'weir.config.ts'), config);
    await expect(loadConfig(join(d, 'weir.config.ts'))).rejects.toMatchObject({ code: 'WEIR_CONFIG_INVALID', message: expect.stringMatching(/rename it to weir\.config\.mts/) });
  });

  it('names a missing file and a file without a config', async () => {
    const d = dir({ type: 'module' });
    await expect(loadConfig(join(d, 'nope.ts'))).rejects.toMatchObject({ code: 'WEIR_CONFIG_INVALID', message: expect.stringMatching(/does not exist/) });
    writeFileSync(join(d, 'empty.ts'), 'export const x = 1;\n');
    await expect(loadConfig(join(d, 'empty.ts'))).rejects.toMatchObject({ code: 'WEIR_CONFIG_INVALID', message: expect.stringMatching(/export default defineConfig/) });
  });
});
