import { type ChildProcess, spawn } from 'node:child_process';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** A pool of chaos worker processes that can be SIGKILLed and replaced at random. */
export class WorkerFleet {
  private readonly procs = new Map<string, ChildProcess>();
  private next = 0;
  kills = 0;
  private killing: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly schema: string,
  ) {}

  /** Starts a worker process and resolves once it handles messages. */
  spawn(): Promise<void> {
    const id = `chaos-${this.next++}`;
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, this.url, this.schema, id], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.procs.set(id, child);
    child.once('exit', () => this.procs.delete(id));
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      if (!text.includes('ExperimentalWarning') && !text.includes('nodedir')) process.stderr.write(`[${id}] ${text}`);
    });
    return new Promise((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve();
      });
      child.once('exit', (code, signal) => reject(new Error(`${id} exited before ready (${code ?? signal})`)));
    });
  }

  /**
   * SIGKILLs a random worker (the first after 0.1–0.3 s, then every `meanMs` ± 50 %) and starts a
   * replacement. A fast backend (SQLite drains 10,000 messages in seconds) needs a short period to
   * see enough kills; a slower one a longer period so that progress outpaces respawns.
   */
  startKilling(meanMs = 1600): void {
    let first = true;
    const round = (): void => {
      this.killing = setTimeout(() => {
        this.killOne();
        round();
      }, first ? 100 + Math.random() * 200 : meanMs * (0.5 + Math.random()));
      first = false;
    };
    round();
  }

  /** SIGKILLs one random worker now and starts a replacement. */
  killOne(): void {
    const ids = [...this.procs.keys()];
    const victim = ids[Math.floor(Math.random() * ids.length)];
    if (victim === undefined) return;
    this.procs.get(victim)?.kill('SIGKILL');
    this.kills++;
    this.spawn().catch(() => undefined);
  }

  stopKilling(): void {
    if (this.killing !== undefined) clearTimeout(this.killing);
    this.killing = undefined;
  }

  /** SIGKILLs every worker and waits for them to exit. */
  async killAll(): Promise<void> {
    this.stopKilling();
    const exits = [...this.procs.values()].map((p) => new Promise((resolve) => p.once('exit', resolve)));
    for (const p of this.procs.values()) p.kill('SIGKILL');
    await Promise.all(exits);
  }
}

/**
 * A TCP proxy in front of PostgreSQL. `outage(ms)` drops every connection and refuses new ones for
 * `ms`, which is what clients see during a server restart, without disturbing anyone else using the server.
 */
export class PgProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async start(port = 0): Promise<number> {
    this.server = createServer((client) => {
      const upstream = connect({ host: '127.0.0.1', port: 5432 });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  async outage(ms: number): Promise<void> {
    await this.stop();
    await new Promise((resolve) => setTimeout(resolve, ms));
    await this.start(this.port);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server !== undefined) await new Promise((resolve) => server.close(resolve));
  }
}

/** Polls `read` until it returns true (a failing read counts as false: the server may be restarting), or fails after `timeoutMs`. */
export async function until(read: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await read().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Like {@link until} on a count, while the fleet kills by time: also kills whenever the count has
 * moved `step` further since the last kill, so a backend that drains faster than the kill period
 * still sees a kill every `step` messages (at a random instant within the 100 ms polls).
 */
export async function killUntil(fleet: WorkerFleet, read: () => Promise<number>, target: number, step: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let kills = fleet.kills;
  let mark = await read().catch(() => 0);
  for (;;) {
    const n = await read().catch(() => -1);
    if (n >= target) return;
    if (fleet.kills !== kills) mark = Math.max(mark, n);
    else if (n >= 0 && n - mark >= step) {
      fleet.killOne();
      mark = n;
    }
    kills = fleet.kills;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
  }
}

/** The messages of the run: `keys` keys, `perKey` messages each, interleaved. */
export function chaosMessages(keys: number, perKey: number): Array<{ topic: string; key: string; payload: { key: string; n: number } }> {
  const out = [];
  for (let n = 0; n < perKey; n++) {
    for (let k = 0; k < keys; k++) out.push({ topic: 'chaos', key: `k${k}`, payload: { key: `k${k}`, n } });
  }
  return out;
}

/** Per-key order check: for each key, effects in commit order carry n = 0, 1, 2, … with no gap or repeat. */
export function orderViolations(rows: ReadonlyArray<{ k: string; n: number }>, perKey: number): string[] {
  const byKey = new Map<string, number[]>();
  for (const r of rows) byKey.set(r.k, [...(byKey.get(r.k) ?? []), Number(r.n)]);
  const problems: string[] = [];
  for (const [key, ns] of byKey) {
    const ok = ns.length === perKey && ns.every((n, i) => n === i);
    if (!ok) problems.push(`${key}: ${ns.slice(0, 20).join(',')}${ns.length > 20 ? '…' : ''} (${ns.length})`);
  }
  return problems;
}
