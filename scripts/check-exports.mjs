#!/usr/bin/env node
// Fails when the public folders under src/ and package.json "exports" disagree.
// A public folder is any folder under src/ with an index.ts, except src/internal (never exported).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const src = join(root, 'src');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const notExported = new Set(['internal']);

const folders = new Set(['.']);
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (!statSync(full).isDirectory()) continue;
    const rel = relative(src, full);
    if (notExported.has(rel.split('/')[0])) continue;
    if (existsSync(join(full, 'index.ts'))) folders.add(`./${rel}`);
    walk(full);
  }
})(src);

const problems = [];
const exported = new Set(Object.keys(pkg.exports).filter((k) => k !== './package.json'));
for (const f of folders) {
  if (!exported.has(f)) problems.push(`src/${f === '.' ? '' : `${f.slice(2)}/`}index.ts has no "exports" entry "${f}"`);
}
for (const key of exported) {
  if (!folders.has(key)) {
    problems.push(`"exports" entry "${key}" has no folder src/${key.slice(2)} with an index.ts`);
    continue;
  }
  const base = key === '.' ? 'index' : `${key.slice(2)}/index`;
  const want = { types: `./dist/${base}.d.ts`, default: `./dist/${base}.js` };
  const got = pkg.exports[key];
  if (got?.types !== want.types || got?.default !== want.default) {
    problems.push(`"exports" entry "${key}" should be ${JSON.stringify(want)}`);
  }
}
if (problems.length > 0) {
  console.error(`check-exports: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`check-exports: ${folders.size} public folder(s) match package.json "exports".`);
