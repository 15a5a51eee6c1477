import { afterAll, beforeAll } from 'vitest';
import { AdminClient } from './admin.js';
import { type Flagship, flagship, type FlagshipOptions } from './harness.js';

/**
 * Registers the suite's flagship: the simulators and `weir start` before its tests (`seed` runs
 * between the two, to put records in the simulators first), closed after them. `ready` receives the
 * running flagship and an admin client with its token.
 */
export function useFlagship(
  options: FlagshipOptions,
  ready: (f: Flagship, admin: AdminClient) => void,
  seed: (f: Flagship) => void = () => undefined,
): void {
  let f: Flagship | undefined;
  beforeAll(async () => {
    f = await flagship(options);
    seed(f);
    await f.weir.start();
    ready(f, new AdminClient(f.adminUrl, f.secrets.adminToken));
  }, 60_000);
  afterAll(async () => {
    await f?.close();
  }, 30_000);
}
