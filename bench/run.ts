/**
 * `npm run bench [-- filter]`: runs every `bench/*.bench.ts` whose file name contains the filter;
 * when no file name does, runs every file and the filter selects cases inside them.
 * Needs `node --expose-gc --import tsx` (the npm script passes both).
 */
import { readdirSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { basename } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Bench, createContext } from './harness.js';

const dir = fileURLToPath(new URL('.', import.meta.url));
const filter = process.argv[2];
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .toSorted();
const byName = filter === undefined ? files : files.filter((f) => basename(f, '.bench.ts').includes(filter));
const selected = byName.length > 0 ? byName : files;
const caseFilter = byName.length > 0 ? undefined : filter;

const cpu = cpus();
console.log(
  `weir bench — ${new Date().toISOString()} — node ${process.version} on ${process.platform}/${process.arch}, ` +
    `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ` +
    `load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
);
if ((globalThis as { gc?: unknown }).gc === undefined) console.log('warning: run with node --expose-gc for heap figures');
console.log(`files: ${selected.join(', ')}${caseFilter === undefined ? '' : ` (cases matching "${caseFilter}")`}\n`);

const started = Date.now();
for (const file of selected) {
  const bench = (await import(pathToFileURL(`${dir}/${file}`).href)).default as Bench;
  console.log(`## ${bench.name}: ${bench.description}\n`);
  const ctx = createContext(caseFilter);
  try {
    await bench.run(ctx);
  } finally {
    ctx.done();
  }
}
console.log(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s`);
