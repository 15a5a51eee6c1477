import { storeError } from '../shared.js';
import type { RedisLike, Script } from './client.js';

/** One operation of a batch: its key, its arguments already as JSON, and its blob if any. */
interface Op {
  readonly key: string;
  readonly json: string;
  readonly blob: string | undefined;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

/** The operations waiting for one hash slot, and the calls of the script in flight for it. */
interface Lane {
  queue: Op[];
  busy: number;
}

/**
 * Runs script operations in batches: while one call of the script is in flight for a hash slot,
 * the operations that arrive for that slot queue, and go together in the next call (one
 * `EVALSHA` for many requests). Redis runs a script atomically, so each operation still sees the
 * effects of the ones before it. Under load the batches grow by themselves (like Nagle's
 * algorithm); an idle lane sends an operation at once. Operations are grouped by the Redis
 * Cluster hash tag of their key, so a batch never spans slots.
 *
 * The script gets the keys as KEYS, every operation's arguments in ARGV[1] (a JSON array of
 * arrays), then the blobs of the operations that have one (ARGV[2], ARGV[3], …, in the order of
 * their operations: a large string, such as a stored response, passed as it is rather than escaped
 * into the JSON), and answers a JSON array with one result per operation. A few arguments per call
 * instead of several per operation is most of what a client spends.
 */
export class ScriptBatcher {
  private readonly lanes = new Map<string, Lane>();

  /**
   * @param check turns one operation's entry of the answer into its result, or throws to reject it.
   * @param maxOps the most operations in one call.
   * @param maxInFlight calls in flight per lane.
   */
  constructor(
    private readonly redis: RedisLike,
    private readonly script: Script,
    private readonly check: (entry: unknown) => unknown = (entry) => entry,
    private readonly maxOps = 128,
    private readonly maxInFlight = 1,
  ) {}

  /**
   * Queues one operation; resolves with its entry of the script's answer.
   * @param tag the lane: any string that keys of one hash slot share (their hash tag, by default).
   * @param json the operation's arguments as a JSON array (numbers as strings).
   * @param blob a large string argument, passed apart.
   */
  run(key: string, json: string, blob?: string, tag: string = hashTag(key)): Promise<unknown> {
    let lane = this.lanes.get(tag);
    if (lane === undefined) {
      lane = { queue: [], busy: 0 };
      this.lanes.set(tag, lane);
    }
    const target = lane;
    return new Promise((resolve, reject) => {
      target.queue.push({ key, json, blob, resolve, reject });
      if (target.busy < this.maxInFlight) this.flush(tag, target);
    });
  }

  private flush(tag: string, lane: Lane): void {
    if (lane.queue.length === 0) {
      if (lane.busy === 0) this.lanes.delete(tag);
      return;
    }
    lane.busy++;
    let ops: Op[];
    if (lane.queue.length <= this.maxOps) {
      ops = lane.queue;
      lane.queue = [];
    } else ops = lane.queue.splice(0, this.maxOps);
    const keys: string[] = [];
    const parts: string[] = [];
    const args: string[] = [''];
    for (const op of ops) {
      keys.push(op.key);
      parts.push(op.json);
      if (op.blob !== undefined) args.push(op.blob);
    }
    args[0] = `[${parts.join(',')}]`;
    this.script.run(this.redis, keys, args).then(
      (out) => {
        let list: unknown;
        try {
          list = JSON.parse(String(out));
        } catch (err) {
          list = storeError('Redis script answered something other than JSON', err);
        }
        for (let i = 0; i < ops.length; i++) {
          const op = ops[i] as Op;
          if (!Array.isArray(list) || i >= list.length) op.reject(list instanceof Error ? list : storeError('Redis script answered fewer results than operations', undefined));
          else {
            try {
              op.resolve(this.check(list[i]));
            } catch (err) {
              op.reject(err);
            }
          }
        }
        lane.busy--;
        this.flush(tag, lane);
      },
      (err: unknown) => {
        for (const op of ops) op.reject(err);
        lane.busy--;
        this.flush(tag, lane);
      },
    );
  }
}

/** Strings that need no escaping in JSON (base64url digests, numbers). */
const PLAIN = /^[\w\-+/=.:]*$/;

/** A string as a JSON string literal: by hand when it needs no escaping (most of them). */
export function jsonString(value: string): string {
  return PLAIN.test(value) ? `"${value}"` : JSON.stringify(value);
}

/** The part of a key Redis Cluster hashes: the first non-empty `{…}`, else the whole key. */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close <= open + 1 ? key : key.slice(open + 1, close);
}
