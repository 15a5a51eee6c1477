import { createHmac } from 'node:crypto';
import { Webhook as StandardWebhook, WebhookVerificationError } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { describe, expect, it } from 'vitest';
import { generateStandardWebhooksKeyPair, generateStandardWebhooksSecret } from '../../src/security/index.js';
import { sign, verify } from '../../src/webhooks/index.js';

// Both libraries read the real clock, so these tests sign and verify "now" on both sides.

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const NEW_SECRET = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';

const bodies: Record<string, string> = {
  'JSON object': '{"type":"contact.created","data":{"id":"1f81eb52"}}',
  'JSON with spacing and newline': '{\n  "a": 1\n}\n',
  'form-encoded (not JSON)': 'token=xyz&team_id=T1&text=hello%20world',
  'plain text (not JSON)': 'hello, world',
  'XML (not JSON)': '<event><id>1</id></event>',
  'unicode (not JSON)': 'Zoë ✓ 日本 🚀',
  'empty body': '',
  'a number-looking but non-JSON body': '007',
};

const isJson = (text: string): boolean => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

/** What the library's verify() says: 'ok', 'accepted-but-parse-failed' (signature matched, then JSON.parse threw) or 'rejected'. */
function libraryVerdict(fn: () => unknown): 'ok' | 'accepted-but-parse-failed' | 'rejected' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof WebhookVerificationError) return 'rejected';
    if (err instanceof SyntaxError) return 'accepted-but-parse-failed';
    throw err;
  }
}

const svixHeaders = (h: Record<string, string>): Record<string, string> => ({
  'svix-id': h['webhook-id'] as string,
  'svix-timestamp': h['webhook-timestamp'] as string,
  'svix-signature': h['webhook-signature'] as string,
});

describe('interop with npm standardwebhooks and svix', () => {
  for (const [label, body] of Object.entries(bodies)) {
    it(`standardwebhooks signs, Weir verifies: ${label}`, () => {
      const now = new Date();
      const signature = new StandardWebhook(SECRET).sign('msg_interop', now, body);
      const headers = { 'webhook-id': 'msg_interop', 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': signature };
      const bytes = verify('standard-webhooks', { secret: SECRET, rawBody: Buffer.from(body), headers, now });
      expect(Buffer.from(bytes).toString('utf8')).toBe(body);
      expect(() => verify('standard-webhooks', { secret: NEW_SECRET, rawBody: body, headers, now })).toThrow(expect.objectContaining({ code: 'WEIR_SIGNATURE_INVALID' }));
    });

    it(`svix signs (svix-* headers), Weir verifies: ${label}`, () => {
      const now = new Date();
      const signature = new SvixWebhook(SECRET).sign('msg_svix', now, body);
      const headers = { 'svix-id': 'msg_svix', 'svix-timestamp': String(Math.floor(now.getTime() / 1000)), 'svix-signature': signature };
      expect(Buffer.from(verify('standard-webhooks', { secret: SECRET, rawBody: body, headers, now })).toString('utf8')).toBe(body);
    });

    it(`Weir signs, standardwebhooks and svix verify: ${label}`, () => {
      const headers = sign('standard-webhooks', { secret: SECRET, rawBody: body, id: 'msg_weir' });
      // The libraries JSON.parse the body after the signature matched: a non-JSON body "fails" only
      // there (standardwebhooks 1.1 lets an empty body through; svix 1.x, on standardwebhooks 1.0, does not).
      const wantStandard = isJson(body) || body === '' ? 'ok' : 'accepted-but-parse-failed';
      const wantSvix = isJson(body) ? 'ok' : 'accepted-but-parse-failed';
      expect(libraryVerdict(() => new StandardWebhook(SECRET).verify(body, headers))).toBe(wantStandard);
      expect(libraryVerdict(() => new StandardWebhook(SECRET).verify(body, headers, { jsonParse: false }))).toBe('ok');
      expect(libraryVerdict(() => new SvixWebhook(SECRET).verify(body, headers))).toBe(wantSvix);
      expect(libraryVerdict(() => new SvixWebhook(SECRET).verify(body, svixHeaders(headers)))).toBe(wantSvix);
      // And a wrong secret is a signature rejection in the libraries, as in Weir.
      expect(libraryVerdict(() => new StandardWebhook(NEW_SECRET).verify(body, headers, { jsonParse: false }))).toBe('rejected');
      if (isJson(body) && body !== '') expect(new SvixWebhook(SECRET).verify(body, headers)).toEqual(JSON.parse(body));
    });
  }

  it('Weir signs with two secrets during a rotation: each library instance holding either secret verifies', () => {
    const body = '{"rotation":true}';
    const headers = sign('standard-webhooks', { secrets: [SECRET, NEW_SECRET], rawBody: body, id: 'msg_rot' });
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    for (const secret of [SECRET, NEW_SECRET]) {
      expect(new StandardWebhook(secret).verify(body, headers)).toEqual({ rotation: true });
      expect(new SvixWebhook(secret).verify(body, svixHeaders(headers))).toEqual({ rotation: true });
    }
    expect(libraryVerdict(() => new StandardWebhook(generateStandardWebhooksSecret()).verify(body, headers))).toBe('rejected');
  });

  it('Weir signs v1 and v1a together: the libraries (no v1a support) verify through v1, Weir through either', () => {
    const body = 'not json at all';
    const { secretKey, publicKey } = generateStandardWebhooksKeyPair();
    const headers = sign('standard-webhooks', { secrets: [SECRET, secretKey], rawBody: body, id: 'msg_mixed' });
    expect(headers['webhook-signature']).toMatch(/^v1,\S+ v1a,\S+$/);
    expect(libraryVerdict(() => new StandardWebhook(SECRET).verify(body, headers, { jsonParse: false }))).toBe('ok');
    expect(verify('standard-webhooks', { secret: publicKey, rawBody: body, headers })).toBeInstanceOf(Uint8Array);
    expect(verify('standard-webhooks', { secret: SECRET, rawBody: body, headers })).toBeInstanceOf(Uint8Array);
  });

  it('a library-made signature is accepted by Weir for a large body (1 MiB)', () => {
    const body = 'a'.repeat(1 << 20);
    const now = new Date();
    const signature = new StandardWebhook(SECRET).sign('msg_big', now, body);
    const headers = { 'webhook-id': 'msg_big', 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': signature };
    expect(verify('standard-webhooks', { secret: SECRET, rawBody: Buffer.from(body), headers, now }).byteLength).toBe(1 << 20);
  });

  it('binary bodies: Weir signs the bytes themselves; the libraries turn a Buffer into a string first and sign something else', () => {
    const body = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x7b, 0x22, 0xc3]); // not valid UTF-8
    const timestamp = 1_700_000_000;
    const headers = sign('standard-webhooks', { secret: SECRET, rawBody: body, id: 'msg_bin', now: timestamp * 1000 });
    const key = Buffer.from(SECRET.slice('whsec_'.length), 'base64');
    const reference = createHmac('sha256', key).update(`msg_bin.${timestamp}.`).update(body).digest('base64');
    expect(headers['webhook-signature']).toBe(`v1,${reference}`);
    expect(verify('standard-webhooks', { secret: SECRET, rawBody: body, headers, now: timestamp * 1000 })).toBe(body);
    // The library's lossy Buffer → string conversion changes the signed bytes:
    expect(new StandardWebhook(SECRET).sign('msg_bin', new Date(timestamp * 1000), body)).not.toBe(headers['webhook-signature']);
    // ...so Weir must not verify the library's signature against the real bytes (it signed other bytes).
    const libraryHeaders = { ...headers, 'webhook-signature': new StandardWebhook(SECRET).sign('msg_bin', new Date(timestamp * 1000), body) };
    expect(() => verify('standard-webhooks', { secret: SECRET, rawBody: body, headers: libraryHeaders, now: timestamp * 1000 })).toThrow(
      expect.objectContaining({ code: 'WEIR_SIGNATURE_INVALID' }),
    );
  });

  it('a raw-bytes secret (the libraries\' format: "raw") interoperates', () => {
    const raw = new Uint8Array(32).map((_, i) => i * 7);
    const body = 'raw key body';
    const headers = sign('standard-webhooks', { secret: raw, rawBody: body, id: 'msg_raw' });
    expect(libraryVerdict(() => new StandardWebhook(raw, { format: 'raw' }).verify(body, headers, { jsonParse: false }))).toBe('ok');
  });
});
