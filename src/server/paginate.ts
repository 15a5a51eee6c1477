import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { InvalidOptionError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { integer } from '../internal/validate.js';
import { isSecret, type Secret } from '../security/secret.js';
import { HttpError } from './problem.js';

/** A position in a keyset: the sort key and the id that breaks ties. */
export interface CursorPosition {
  readonly sort: string | number;
  readonly id: string | number;
}

export interface PaginateOptions {
  /** The server secret cursors are sealed with (≥ 16 bytes). Rotate by keeping the old one in `previousSecrets`. */
  secret: Secret | string | Uint8Array;
  /** Secrets still accepted when decoding (during a rotation). */
  previousSecrets?: ReadonlyArray<Secret | string | Uint8Array>;
  /** A cursor older than this is refused, in ms. Default: no limit. */
  ttlMs?: number;
  clock?: Clock;
}

/** A page of rows and the cursor of the next one. */
export interface Page<T> {
  readonly items: T[];
  /** Absent on the last page. */
  readonly nextCursor: string | undefined;
}

export interface Paginator {
  /** Seals a position. `scope` binds the cursor to a query (filters, sort order, client): reused elsewhere it is refused. */
  encode(position: CursorPosition, scope?: string): string;
  /**
   * Opens a cursor.
   * @throws HttpError 400 `WEIR_CURSOR_INVALID` when it was altered, forged, expired or made for another scope.
   */
  decode(cursor: string, scope?: string): CursorPosition;
  /**
   * Cuts a page from rows fetched with `LIMIT limit + 1` after the decoded position
   * (`WHERE (sort, id) > ($1, $2) ORDER BY sort, id`): the extra row only says there is a next page.
   */
  page<T>(rows: readonly T[], options: { limit: number; position: (row: T) => CursorPosition; scope?: string }): Page<T>;
}

const VERSION = 1;

function invalid(why: string): HttpError {
  return new HttpError('WEIR_CURSOR_INVALID', 400, `The page cursor is not valid (${why}).`, { extensions: { reason: why } });
}

/** AES-256-GCM open of `version | iv(12) | ciphertext | tag(16)`; undefined when it does not authenticate. */
function open(k: Buffer, sealed: Buffer, aad: Buffer): Buffer | undefined {
  try {
    const d = createDecipheriv('aes-256-gcm', k, sealed.subarray(1, 13));
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([d.update(sealed.subarray(13, sealed.length - 16)), d.final()]);
  } catch {
    return undefined;
  }
}

function isKey(v: unknown): v is string | number {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

function keyOf(secret: Secret | string | Uint8Array, option: string): Buffer {
  const raw = isSecret(secret) ? Buffer.from(secret.reveal()) : typeof secret === 'string' ? Buffer.from(secret) : Buffer.from(secret);
  if (raw.byteLength < 16) throw new InvalidOptionError(option, 'a secret of at least 16 bytes', '<redacted>');
  return Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), 'weir/server paginate cursor v1', 32));
}

/**
 * Opaque, tamper-proof keyset cursors over `(sort key, id)`: the position is sealed with
 * AES-256-GCM under a key derived from the server secret, so clients can neither read nor alter it,
 * and a cursor made for one query (its `scope`) is refused on another. Keyset pages stay correct
 * while rows are inserted, unlike offsets. Import from `weir/server`.
 *
 * @throws InvalidOptionError naming the option.
 * @example
 * ```ts
 * const pages = paginate({ secret: secret('CURSOR_SECRET') });
 * const after = query.cursor ? pages.decode(query.cursor, 'orders:by-created') : undefined;
 * const rows = await db.orders({ after, limit: 51 });
 * return Response.json(pages.page(rows, { limit: 50, position: (o) => ({ sort: o.createdAt, id: o.id }), scope: 'orders:by-created' }));
 * ```
 */
export function paginate(options: PaginateOptions): Paginator {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('paginate', 'an options object', options);
  const key = keyOf(options.secret, 'paginate.secret');
  const previous = (options.previousSecrets ?? []).map((s, i) => keyOf(s, `paginate.previousSecrets[${i}]`));
  const ttlMs = options.ttlMs === undefined ? undefined : integer(options.ttlMs, 'paginate.ttlMs', 1);
  const clock = options.clock ?? systemClock;

  const self: Paginator = {
    encode(position, scope = '') {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      c.setAAD(Buffer.from(`${VERSION}\n${scope}`));
      const body = Buffer.concat([c.update(JSON.stringify([position.sort, position.id, clock.now()])), c.final()]);
      return Buffer.concat([Buffer.of(VERSION), iv, body, c.getAuthTag()]).toString('base64url');
    },
    decode(cursor, scope = '') {
      if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid('malformed');
      const sealed = Buffer.from(cursor, 'base64url');
      if (sealed.length < 1 + 12 + 16 + 2 || sealed[0] !== VERSION) throw invalid('malformed');
      const aad = Buffer.from(`${VERSION}\n${scope}`);
      let plain: Buffer | undefined;
      for (const k of [key, ...previous]) if ((plain = open(k, sealed, aad)) !== undefined) break;
      if (plain === undefined) throw invalid('tampered');
      let parsed: unknown;
      try {
        parsed = JSON.parse(plain.toString('utf8'));
      } catch {
        throw invalid('malformed');
      }
      const [sort, id, issuedAt] = parsed as [unknown, unknown, unknown];
      if (!isKey(sort) || !isKey(id) || typeof issuedAt !== 'number') throw invalid('malformed');
      if (ttlMs !== undefined && clock.now() - issuedAt > ttlMs) throw invalid('expired');
      return { sort, id };
    },
    page(rows, o) {
      const limit = integer(o.limit, 'paginate.page.limit', 1);
      const items = rows.slice(0, limit);
      const last = items[items.length - 1];
      const more = rows.length > limit && last !== undefined;
      return { items, nextCursor: more ? self.encode(o.position(last), o.scope) : undefined };
    },
  };
  return self;
}
