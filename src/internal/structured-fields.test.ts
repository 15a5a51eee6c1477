import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BareItem,
  type Item,
  type List,
  type Member,
  parseDictionary,
  parseItem,
  parseList,
  serializeDictionary,
  serializeItem,
  serializeList,
  sf,
} from './structured-fields.js';

/** A compact view for assertions: [value, {params}] or [[items], {params}]. */
function view(member: Member): unknown {
  const params = (p: Map<string, BareItem>) => Object.fromEntries([...p].map(([k, v]) => [k, bare(v)]));
  if ('inner' in member) return [member.inner.map(view), params(member.params)];
  return [bare(member.value), params(member.params)];
}
function bare(v: BareItem): unknown {
  if (v.type === 'binary') return { binary: Buffer.from(v.value).toString('hex') };
  if (v.type === 'token' || v.type === 'date' || v.type === 'displaystring' || v.type === 'decimal') return { [v.type]: v.value };
  return v.value;
}
const list = (s: string | string[]) => parseList(s)?.map(view) ?? null;
const dict = (s: string | string[]) => {
  const d = parseDictionary(s);
  return d === null ? null : Object.fromEntries([...d].map(([k, m]) => [k, view(m)]));
};
const item = (s: string) => {
  const i = parseItem(s);
  return i === null ? null : view(i);
};

describe('parse: items and numbers', () => {
  it.each([
    ['42', [42, {}]],
    ['-42', [-42, {}]],
    ['042', [42, {}]],
    ['-0', [0, {}]],
    ['123456789012345', [123456789012345, {}]],
    ['1.23', [{ decimal: 1.23 }, {}]],
    ['-1.123', [{ decimal: -1.123 }, {}]],
    ['123456789012.1', [{ decimal: 123456789012.1 }, {}]],
    ['"hello \\"w\\\\orld\\""', ['hello "w\\orld"', {}]],
    ['""', ['', {}]],
    ['foo123/456', [{ token: 'foo123/456' }, {}]],
    ['*foo:bar', [{ token: '*foo:bar' }, {}]],
    [':aGVsbG8=:', [{ binary: '68656c6c6f' }, {}]],
    [':aGVsbG8:', [{ binary: '68656c6c6f' }, {}]],
    [':/+Ah:', [{ binary: 'ffe021' }, {}]],
    ['::', [{ binary: '' }, {}]],
    ['?1', [true, {}]],
    ['?0', [false, {}]],
    ['@1659578233', [{ date: 1659578233 }, {}]],
    ['@-1659578233', [{ date: -1659578233 }, {}]],
    ['%"f%c3%bc%c3%bc"', [{ displaystring: 'füü' }, {}]],
    ['%"This is intended for display to %c3%bcsers."', [{ displaystring: 'This is intended for display to üsers.' }, {}]],
    ['  1;a=?0; b;c="x"  ', [1, { a: false, b: true, c: 'x' }]],
    ['1;a=1;b=2;a=3', [1, { a: 3, b: 2 }]],
  ])('%j', (raw, expected) => {
    expect(item(raw)).toEqual(expected);
  });

  it.each([
    '',
    '--0',
    '- 42',
    '4-2',
    '2,3',
    '1234567890123456',
    '1234567890123.0',
    '1.1234',
    '1.',
    '1..4',
    '1.5.4',
    '"unterminated',
    '"bad \\n escape"',
    '"tab\there"',
    'a b',
    ':aGVsbG8=',
    ':aGV@sbG8=:',
    ':aGVs=bG8=:',
    ':_-Ah:',
    '?2',
    '?',
    '@1.5',
    '%"unterminated',
    '%bad"',
    '%"%C3%BC"',
    '%"%c3"',
    '%"%g0"',
    '"ü"',
    'é',
    '1;A=1',
    '1 ;a=1',
    '1;a =1',
    '(1 2)',
  ])('%j fails', (raw) => {
    expect(parseItem(raw)).toBeNull();
  });
});

describe('parse: lists', () => {
  it('combines several field lines and accepts OWS around commas', () => {
    expect(list(['1, 2', '3'])).toEqual([
      [1, {}],
      [2, {}],
      [3, {}],
    ]);
    expect(list('a\t,\tb')).toEqual([
      [{ token: 'a' }, {}],
      [{ token: 'b' }, {}],
    ]);
  });

  it('parses inner lists with parameters', () => {
    expect(list('("foo" "bar";p=1);lvl=5, ("baz"), ()')).toEqual([
      [
        [
          ['foo', {}],
          ['bar', { p: 1 }],
        ],
        { lvl: 5 },
      ],
      [[['baz', {}]], {}],
      [[], {}],
    ]);
    expect(list('( 1  2 )')).toEqual([
      [
        [
          [1, {}],
          [2, {}],
        ],
        {},
      ],
    ]);
  });

  it('an empty value is an empty list', () => {
    expect(parseList('')).toEqual([]);
    expect(parseList('   ')).toEqual([]);
  });

  it.each(['1,', '1,,2', ',1', '1 2', '(1 2', '(1,2)', '(1)(2)', '1, 2 ;a=1'])('%j fails', (raw) => {
    expect(parseList(raw)).toBeNull();
  });
});

describe('parse: dictionaries', () => {
  it('parses values, bare keys as true, parameters and inner lists', () => {
    expect(dict('a=1, b, c;foo=9, d=(1 2), e=?1;x')).toEqual({
      a: [1, {}],
      b: [true, {}],
      c: [true, { foo: 9 }],
      d: [
        [
          [1, {}],
          [2, {}],
        ],
        {},
      ],
      e: [true, { x: true }],
    });
  });

  it('a duplicate key keeps the last value in the first position', () => {
    const d = parseDictionary('a=1,b=2,a=3');
    expect([...(d ?? new Map()).keys()]).toEqual(['a', 'b']);
    expect(dict('a=1,b=2,a=3')).toEqual({ a: [3, {}], b: [2, {}] });
  });

  it('combines field lines', () => {
    expect(dict(['a=1', 'b=2'])).toEqual({ a: [1, {}], b: [2, {}] });
  });

  it.each(['a =1', 'a= 1', 'a=1,', '1b=2', 'B=2', 'b!=2', 'a=1,,b=2', '"a"=1'])('%j fails', (raw) => {
    expect(parseDictionary(raw)).toBeNull();
  });
});

describe('serialize', () => {
  it('emits the canonical form', () => {
    const l: List = [
      sf.item(sf.string('default'), { q: sf.integer(100), w: sf.integer(60) }),
      { inner: [sf.item(sf.token('a')), sf.item(sf.binary(new Uint8Array([104, 105])))], params: new Map([['x', sf.boolean(true)]]) },
    ];
    expect(serializeList(l)).toBe('"default";q=100;w=60, (a :aGk=:);x');
    expect(serializeDictionary({ a: sf.item(sf.boolean(true), { p: sf.integer(1) }), b: sf.item(sf.boolean(false)) })).toBe('a;p=1, b=?0');
    expect(serializeItem(sf.item(sf.date(1659578233)))).toBe('@1659578233');
    expect(serializeItem(sf.item(sf.string('say "hi" \\')))).toBe('"say \\"hi\\" \\\\"');
    expect(serializeItem(sf.item(sf.displayString('füü "%"')))).toBe('%"f%c3%bc%c3%bc %22%25%22"');
    expect(serializeList([])).toBe('');
  });

  it.each([
    [0.0015, '0.002'],
    [0.0025, '0.002'],
    [-0.0015, '-0.002'],
    [-0.0025, '-0.002'],
    [9.9995, '10.0'],
    [1.5, '1.5'],
    [2, '2.0'],
    [-0.0001, '0.0'],
    [123456789012.1, '123456789012.1'],
  ])('decimal %d → %s (ties to even)', (n, text) => {
    expect(serializeItem(sf.item(sf.decimal(n)))).toBe(text);
  });

  it.each<[string, Item]>([
    ['integer too big', sf.item(sf.integer(1_000_000_000_000_000))],
    ['integer not whole', sf.item(sf.integer(1.5))],
    ['decimal too big', sf.item(sf.decimal(1_000_000_000_000))],
    ['decimal NaN', sf.item(sf.decimal(Number.NaN))],
    ['string with non-ASCII', sf.item(sf.string('ü'))],
    ['string with control', sf.item(sf.string('a\nb'))],
    ['token starting with a digit', sf.item(sf.token('1a'))],
    ['token with a space', sf.item(sf.token('a b'))],
    ['bad parameter key', sf.item(sf.integer(1), { Q: sf.integer(1) })],
    ['lone surrogate display string', sf.item(sf.displayString('\uD800'))],
  ])('fails on %s', (_name, value) => {
    expect(serializeItem(value)).toBeNull();
  });

  it('fails on a bad dictionary key', () => {
    expect(serializeDictionary({ 'Bad Key': sf.item(sf.integer(1)) })).toBeNull();
  });
});

describe('round trip (property)', () => {
  const key = fc.stringMatching(/^[a-z*][a-z0-9_\-.*]{0,6}$/);
  const bareItem: fc.Arbitrary<BareItem> = fc.oneof(
    fc.integer({ min: -999_999_999_999_999, max: 999_999_999_999_999 }).map(sf.integer),
    fc.integer({ min: -999_999_999_999, max: 999_999_999_999 }).chain((i) => fc.integer({ min: 0, max: 999 }).map((f) => sf.decimal(Number(`${i}.${String(f).padStart(3, '0')}`)))),
    fc.stringMatching(/^[\x20-\x7e]{0,12}$/).map(sf.string),
    fc.stringMatching(/^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]{0,8}$/).map(sf.token),
    fc.uint8Array({ maxLength: 12 }).map(sf.binary),
    fc.boolean().map(sf.boolean),
    fc.integer({ min: -999_999_999_999_999, max: 999_999_999_999_999 }).map(sf.date),
    fc.string({ unit: 'grapheme', maxLength: 8 }).map(sf.displayString),
  );
  const params = fc.uniqueArray(fc.tuple(key, bareItem), { selector: ([k]) => k, maxLength: 3 }).map((e) => new Map(e));
  const anItem: fc.Arbitrary<Item> = fc.record({ value: bareItem, params });
  const member: fc.Arbitrary<Member> = fc.oneof(anItem, fc.record({ inner: fc.array(anItem, { maxLength: 3 }), params }));

  it('parse(serialize(list)) gives the list back', () => {
    fc.assert(
      fc.property(fc.array(member, { maxLength: 4 }), (l) => {
        const text = serializeList(l);
        expect(text).not.toBeNull();
        expect(parseList(text as string)?.map(view)).toEqual(l.map(view));
      }),
    );
  });

  it('parse(serialize(dictionary)) gives the dictionary back', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, member), { selector: ([k]) => k, maxLength: 4 }), (entries) => {
        const d = new Map(entries);
        const text = serializeDictionary(d);
        const back = parseDictionary(text as string);
        expect([...(back ?? new Map())].map(([k, m]) => [k, view(m)])).toEqual(entries.map(([k, m]) => [k, view(m)]));
      }),
    );
  });
});
