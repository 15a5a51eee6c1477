import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { WeirConfig } from './config.js';
import { ConfigError, type EnvSchema } from './env.js';

/**
 * Loads a config file (`weir.config.ts`, `.mts`, `.js`, `.mjs`) without a build step: TypeScript is
 * compiled on the fly (tsx). The file's default export must be a `defineConfig({ … })`.
 * @throws ConfigError when the file is missing or has no config as its default export.
 */
export async function loadConfig(file: string): Promise<WeirConfig<EnvSchema>> {
  const path = resolve(file);
  if (!existsSync(path)) throw new ConfigError([{ variable: '--config', message: `${path} does not exist; pass the path of your weir.config.ts` }], 'command line');
  const url = pathToFileURL(path).href;
  let mod: { default?: unknown };
  if (path.endsWith('.ts') && !inModulePackage(path)) {
    throw new ConfigError(
      [{ variable: '--config', message: `${file} would load as CommonJS (no "type": "module" in the nearest package.json); rename it to weir.config.mts, or add "type": "module" to that package.json` }],
      file,
    );
  }
  if (/\.(c|m)?ts$/.test(path)) {
    const { tsImport } = await import('tsx/esm/api');
    mod = (await tsImport(url, import.meta.url)) as { default?: unknown };
  } else {
    mod = (await import(url)) as { default?: unknown };
  }
  let config = mod.default;
  // A CommonJS-compiled module nests the default export once more.
  if (config !== null && typeof config === 'object' && 'default' in config && typeof (config as { setup?: unknown }).setup !== 'function') config = (config as { default: unknown }).default;
  if (config === null || typeof config !== 'object' || typeof (config as { setup?: unknown }).setup !== 'function') {
    throw new ConfigError([{ variable: 'default export', message: `${file} must \`export default defineConfig({ setup(app, env) { … } })\`` }], file);
  }
  return config as WeirConfig<EnvSchema>;
}

/** True when the nearest package.json above `file` says `"type": "module"` (how Node and tsx pick ESM for `.ts`). */
function inModulePackage(file: string): boolean {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: unknown }).type === 'module';
      } catch {
        return false;
      }
    }
    if (dirname(dir) === dir) return false;
  }
}
