#!/usr/bin/env node
import { run } from './program.js';

process.exitCode = await run(process.argv);
// The command is over. Anything still holding the event loop (a socket in keep-alive, a timer a
// library forgot) must not keep the process alive: give stdout a moment, then exit.
setTimeout(() => process.exit(), 3000).unref();
