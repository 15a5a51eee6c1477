/**
 * `weir/cli`: the `weir` command as a library, to embed it in your own tooling or run it in tests:
 * `await run(['reconcile', 'contacts', '--config', 'weir.config.ts', '--json'], io)` returns the exit
 * code; `io` receives stdout and stderr. The `weir` binary is `run(process.argv.slice(2))`.
 * @packageDocumentation
 */
export { createProgram, run, type ProgramIo } from './program.js';
