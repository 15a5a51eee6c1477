/**
 * Structured Field Values for HTTP (RFC 9651, which obsoletes RFC 8941): parsing and serializing
 * Lists, Dictionaries and Items, strictly as the RFC's algorithms say. Any failure gives `null`
 * (the RFC: "fail parsing" means the whole field is ignored), never a partial value.
 *
 * Bare items are tagged so an Integer `5` and a Decimal `5.0`, or a Token and a String, survive
 * a round trip. Used by the rate-limit header parser and, server-side, to emit `RateLimit` fields.
 */

/** A bare item, tagged with its RFC 9651 type. `date` is seconds since the epoch. */
export type BareItem =
  | { readonly type: 'integer'; readonly value: number }
  | { readonly type: 'decimal'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'token'; readonly value: string }
  | { readonly type: 'binary'; readonly value: Uint8Array }
  | { readonly type: 'boolean'; readonly value: boolean }
  | { readonly type: 'date'; readonly value: number }
  | { readonly type: 'displaystring'; readonly value: string };

/** Ordered parameters; a later duplicate key overwrites the earlier value (RFC 9651 §4.2.3.2). */
export type Params = Map<string, BareItem>;
export interface Item {
  readonly value: BareItem;
  readonly params: Params;
}
export interface InnerList {
  readonly inner: readonly Item[];
  readonly params: Params;
}
export type Member = Item | InnerList;
export type List = Member[];
export type Dictionary = Map<string, Member>;

/** Bare item constructors, for building values to serialize. */
export const sf = {
  integer: (value: number): BareItem => ({ type: 'integer', value }),
  decimal: (value: number): BareItem => ({ type: 'decimal', value }),
  string: (value: string): BareItem => ({ type: 'string', value }),
  token: (value: string): BareItem => ({ type: 'token', value }),
  binary: (value: Uint8Array): BareItem => ({ type: 'binary', value }),
  boolean: (value: boolean): BareItem => ({ type: 'boolean', value }),
  date: (seconds: number): BareItem => ({ type: 'date', value: seconds }),
  displayString: (value: string): BareItem => ({ type: 'displaystring', value }),
  /** An item with optional parameters, given as a record in order. */
  item: (value: BareItem, params: Record<string, BareItem> = {}): Item => ({ value, params: new Map(Object.entries(params)) }),
};

/** True when a member is an Inner List. */
export function isInnerList(member: Member): member is InnerList {
  return 'inner' in member;
}

/** A numeric parameter (Integer or Decimal), or undefined when absent or of another type. */
export function numberParam(params: Params, key: string): number | undefined {
  const v = params.get(key);
  return v !== undefined && (v.type === 'integer' || v.type === 'decimal') ? v.value : undefined;
}

/** A String or Token value (item or parameter), or undefined. */
export function textOf(value: BareItem | undefined): string | undefined {
  return value !== undefined && (value.type === 'string' || value.type === 'token') ? value.value : undefined;
}

// ---------------------------------------------------------------------------------------------
// Parsing (RFC 9651 §4.2)

class Fail extends Error {}
const fail = (): never => {
  throw new Fail();
};

/** Field lines of one field are combined with ", " before parsing (RFC 9110 §5.3). */
function combine(value: string | readonly string[]): string {
  return typeof value === 'string' ? value : value.join(', ');
}

function top<T>(value: string | readonly string[], parse: (p: Parser) => T): T | null {
  const text = combine(value);
  // Field values are ASCII; anything else fails (RFC 9651 §4.2 step 1).
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return null;
  const p = new Parser(text);
  try {
    p.skipSP();
    const out = parse(p);
    p.skipSP();
    return p.done() ? out : null;
  } catch (err) {
    if (err instanceof Fail) return null;
    throw err;
  }
}

/** Parses a List field; `null` when the value is not a valid List. An empty value is an empty List. */
export function parseList(value: string | readonly string[]): List | null {
  return top(value, (p) => p.list());
}

/** Parses a Dictionary field; `null` when the value is not a valid Dictionary. */
export function parseDictionary(value: string | readonly string[]): Dictionary | null {
  return top(value, (p) => p.dictionary());
}

/** Parses an Item field; `null` when the value is not a valid Item. */
export function parseItem(value: string | readonly string[]): Item | null {
  return top(value, (p) => p.item());
}

const DIGIT = /[0-9]/;
const ALPHA = /[A-Za-z]/;
const LCALPHA = /[a-z]/;
const KEY_CHAR = /[a-z0-9_\-.*]/;
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/;
const BASE64_CHAR = /[A-Za-z0-9+/=]/;
const LCHEX = /[0-9a-f]/;

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  done(): boolean {
    return this.i >= this.s.length;
  }
  private peek(): string {
    return this.s[this.i] ?? '';
  }
  private next(): string {
    if (this.done()) fail();
    return this.s[this.i++] as string;
  }
  skipSP(): void {
    while (this.peek() === ' ') this.i++;
  }
  private skipOWS(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.i++;
  }
  /** After a member: OWS, then end, or "," OWS and another member. Returns true when at the end. */
  private separator(): boolean {
    this.skipOWS();
    if (this.done()) return true;
    if (this.next() !== ',') fail();
    this.skipOWS();
    if (this.done()) fail(); // trailing comma
    return false;
  }

  list(): List {
    const members: List = [];
    while (!this.done()) {
      members.push(this.member());
      if (this.separator()) break;
    }
    return members;
  }

  dictionary(): Dictionary {
    const dict: Dictionary = new Map();
    while (!this.done()) {
      const key = this.key();
      let member: Member;
      if (this.peek() === '=') {
        this.i++;
        member = this.member();
      } else {
        member = { value: { type: 'boolean', value: true }, params: this.parameters() };
      }
      dict.set(key, member); // a duplicate overwrites the value and keeps the first position
      if (this.separator()) break;
    }
    return dict;
  }

  private member(): Member {
    return this.peek() === '(' ? this.innerList() : this.item();
  }

  private innerList(): InnerList {
    this.next(); // "("
    const inner: Item[] = [];
    while (!this.done()) {
      this.skipSP();
      if (this.peek() === ')') {
        this.i++;
        return { inner, params: this.parameters() };
      }
      inner.push(this.item());
      const c = this.peek();
      if (c !== ' ' && c !== ')') fail();
    }
    return fail();
  }

  item(): Item {
    const value = this.bareItem();
    return { value, params: this.parameters() };
  }

  private parameters(): Params {
    const params: Params = new Map();
    while (this.peek() === ';') {
      this.i++;
      this.skipSP();
      const key = this.key();
      let value: BareItem = { type: 'boolean', value: true };
      if (this.peek() === '=') {
        this.i++;
        value = this.bareItem();
      }
      params.set(key, value);
    }
    return params;
  }

  private key(): string {
    const first = this.peek();
    if (!LCALPHA.test(first) && first !== '*') fail();
    const start = this.i;
    while (!this.done() && KEY_CHAR.test(this.peek())) this.i++;
    return this.s.slice(start, this.i);
  }

  private bareItem(): BareItem {
    const c = this.peek();
    if (c === '-' || DIGIT.test(c)) return this.number();
    if (c === '"') return { type: 'string', value: this.string() };
    if (c === '*' || ALPHA.test(c)) return this.token();
    if (c === ':') return this.binary();
    if (c === '?') return this.boolean();
    if (c === '@') return this.date();
    if (c === '%') return this.displayString();
    return fail();
  }

  private number(): BareItem {
    let sign = 1;
    if (this.peek() === '-') {
      this.i++;
      sign = -1;
    }
    if (!DIGIT.test(this.peek())) fail();
    let digits = '';
    let decimal = false;
    while (!this.done()) {
      const c = this.peek();
      if (DIGIT.test(c)) digits += c;
      else if (!decimal && c === '.') {
        if (digits.length > 12) fail();
        digits += c;
        decimal = true;
      } else break;
      this.i++;
      if (!decimal && digits.length > 15) fail();
      if (decimal && digits.length > 16) fail();
    }
    if (!decimal) return { type: 'integer', value: sign * Number(digits) || 0 }; // never -0
    const frac = digits.length - digits.indexOf('.') - 1;
    if (frac === 0 || frac > 3) fail();
    return { type: 'decimal', value: sign * Number(digits) || 0 };
  }

  private string(): string {
    this.next(); // '"'
    let out = '';
    while (!this.done()) {
      const c = this.next();
      if (c === '\\') {
        const n = this.next();
        if (n !== '"' && n !== '\\') fail();
        out += n;
      } else if (c === '"') {
        return out;
      } else {
        const code = c.charCodeAt(0);
        if (code <= 0x1f || code >= 0x7f) fail();
        out += c;
      }
    }
    return fail();
  }

  private token(): BareItem {
    const start = this.i++;
    while (!this.done() && TCHAR.test(this.peek())) this.i++;
    return { type: 'token', value: this.s.slice(start, this.i) };
  }

  private binary(): BareItem {
    this.next(); // ":"
    const start = this.i;
    while (this.peek() !== ':') {
      if (this.done() || !BASE64_CHAR.test(this.peek())) fail();
      this.i++;
    }
    const b64 = this.s.slice(start, this.i);
    this.i++;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.replace(/=+$/, '').length % 4 === 1) fail(); // "=" only as padding
    // Lenient on missing "=" padding and non-zero pad bits, as the RFC recommends.
    return { type: 'binary', value: new Uint8Array(Buffer.from(b64, 'base64')) };
  }

  private boolean(): BareItem {
    this.next(); // "?"
    const c = this.next();
    if (c === '1') return { type: 'boolean', value: true };
    if (c === '0') return { type: 'boolean', value: false };
    return fail();
  }

  private date(): BareItem {
    this.next(); // "@"
    const n = this.number();
    if (n.type !== 'integer') fail();
    return { type: 'date', value: n.value as number };
  }

  private displayString(): BareItem {
    this.next(); // "%"
    if (this.next() !== '"') fail();
    const bytes: number[] = [];
    while (!this.done()) {
      const c = this.next();
      const code = c.charCodeAt(0);
      if (code <= 0x1f || code >= 0x7f) fail();
      if (c === '%') {
        const hex = this.next() + this.next();
        if (!LCHEX.test(hex[0] as string) || !LCHEX.test(hex[1] as string)) fail();
        bytes.push(Number.parseInt(hex, 16));
      } else if (c === '"') {
        try {
          return { type: 'displaystring', value: new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes)) };
        } catch {
          return fail();
        }
      } else {
        bytes.push(code);
      }
    }
    return fail();
  }
}

// ---------------------------------------------------------------------------------------------
// Serializing (RFC 9651 §4.1). An empty List or Dictionary serializes to "" (send no field).

/** Serializes a List; `null` when any part cannot be serialized (e.g. a bad key or token). */
export function serializeList(list: readonly Member[]): string | null {
  return attempt(() => list.map(serializeMember).join(', '));
}

/** Serializes a Dictionary (a Map, or a record in insertion order); `null` on failure. */
export function serializeDictionary(dict: ReadonlyMap<string, Member> | Readonly<Record<string, Member>>): string | null {
  const entries = dict instanceof Map ? [...dict.entries()] : Object.entries(dict);
  return attempt(() =>
    entries
      .map(([key, member]) => {
        const k = serializeKey(key);
        if (!isInnerList(member) && member.value.type === 'boolean' && member.value.value) {
          return k + serializeParams(member.params);
        }
        return `${k}=${serializeMember(member)}`;
      })
      .join(', '),
  );
}

/** Serializes an Item; `null` on failure. */
export function serializeItem(item: Item): string | null {
  return attempt(() => serializeItemInner(item));
}

function attempt(fn: () => string): string | null {
  try {
    return fn();
  } catch (err) {
    if (err instanceof Fail) return null;
    throw err;
  }
}

function serializeMember(member: Member): string {
  if (!isInnerList(member)) return serializeItemInner(member);
  return `(${member.inner.map(serializeItemInner).join(' ')})${serializeParams(member.params)}`;
}

function serializeItemInner(item: Item): string {
  return serializeBare(item.value) + serializeParams(item.params);
}

function serializeParams(params: ReadonlyMap<string, BareItem>): string {
  let out = '';
  for (const [key, value] of params) {
    out += `;${serializeKey(key)}`;
    if (!(value.type === 'boolean' && value.value)) out += `=${serializeBare(value)}`;
  }
  return out;
}

function serializeKey(key: string): string {
  if (!/^[a-z*][a-z0-9_\-.*]*$/.test(key)) fail();
  return key;
}

function serializeBare(item: BareItem): string {
  switch (item.type) {
    case 'integer':
      return serializeInteger(item.value);
    case 'decimal':
      return serializeDecimal(item.value);
    case 'string':
      if (!/^[\x20-\x7e]*$/.test(item.value)) fail();
      return `"${item.value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    case 'token':
      if (!/^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/.test(item.value)) fail();
      return item.value;
    case 'binary':
      return `:${Buffer.from(item.value.buffer, item.value.byteOffset, item.value.byteLength).toString('base64')}:`;
    case 'boolean':
      return item.value ? '?1' : '?0';
    case 'date':
      return `@${serializeInteger(item.value)}`;
    case 'displaystring':
      return serializeDisplayString(item.value);
    default:
      return fail();
  }
}

function serializeInteger(n: number): string {
  if (!Number.isInteger(n) || Math.abs(n) > 999_999_999_999_999) fail();
  return String(n === 0 ? 0 : n); // never "-0"
}

function serializeDecimal(n: number): string {
  if (!Number.isFinite(n)) fail();
  // Round to three fractional digits, ties to even (RFC 9651 §4.1.5). Rounding works on the
  // shortest decimal text of the number ("0.0025"), not on its binary value (0.00249999…).
  const text = String(Math.abs(n));
  let thousandths = 0; // |n| in thousandths, after rounding
  if (!text.includes('e')) {
    const [intText = '0', fracText = ''] = text.split('.');
    const kept = fracText.slice(0, 3).padEnd(3, '0');
    const rest = fracText.slice(3);
    thousandths = Number(intText) * 1000 + Number(kept);
    const half = rest === '' ? -1 : rest[0] === '5' && /^50*$/.test(rest) ? 0 : rest[0]! >= '5' ? 1 : -1;
    if (half > 0 || (half === 0 && thousandths % 2 === 1)) thousandths += 1;
  } else if (Math.abs(n) >= 1) {
    fail(); // 1e21 and up: far beyond twelve integer digits
  } // else below 1e-6: rounds to 0
  const intPart = Math.floor(thousandths / 1000);
  if (String(intPart).length > 12) fail();
  const frac = String(thousandths % 1000).padStart(3, '0').replace(/0+$/, '') || '0';
  return `${n < 0 && thousandths !== 0 ? '-' : ''}${intPart}.${frac}`;
}

function serializeDisplayString(value: string): string {
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value)) fail(); // lone surrogate
  let out = '%"';
  for (const byte of Buffer.from(value, 'utf8')) {
    if (byte === 0x25 || byte === 0x22 || byte <= 0x1f || byte >= 0x7f) out += `%${byte.toString(16).padStart(2, '0')}`;
    else out += String.fromCharCode(byte);
  }
  return `${out}"`;
}
