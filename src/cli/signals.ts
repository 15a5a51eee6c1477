import type { ProgramIo } from './program.js';

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * Resolves with the first SIGINT or SIGTERM; from then on a second one exits the process at once
 * (code 130 or 143), for when a graceful stop takes too long.
 */
export function firstSignal(io: ProgramIo): Promise<NodeJS.Signals> {
  const again = (s: NodeJS.Signals): void => {
    io.stderr(`weir: ${s} again, exiting now\n`);
    process.exit(s === 'SIGINT' ? 130 : 143);
  };
  return new Promise((resolve) => {
    const first = (signal: NodeJS.Signals): void => {
      for (const s of SIGNALS) process.off(s, first);
      for (const s of SIGNALS) process.once(s, again);
      resolve(signal);
    };
    for (const s of SIGNALS) process.on(s, first);
  });
}
