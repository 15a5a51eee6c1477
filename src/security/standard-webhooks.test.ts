import { createHmac } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  generateStandardWebhooksKeyPair,
  generateStandardWebhooksSecret,
  signStandardWebhook,
  standardWebhooksKey,
  verifyStandardWebhookSignature,
} from './standard-webhooks.js';

// Published vector (standard-webhooks libraries' sign test; also in shared/vectors).
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const TS = 1614265330;
const BODY = '{"test": 2432232314}';
const SIG = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

const optionError = (fn: () => unknown): { code?: string; option?: string; message?: string } => {
  try {
    fn();
  } catch (err) {
    return err as { code?: string; option?: string; message?: string };
  }
  throw new Error('expected an error');
};

describe('standardWebhooksKey', () => {
  it('parses whsec_ secrets with or without the prefix, padded or not, and raw bytes', () => {
    for (const secret of [SECRET, SECRET.slice(6), Buffer.from(SECRET.slice(6), 'base64')]) {
      const key = standardWebhooksKey(secret);
      expect(key.type).toBe('hmac');
      expect(signStandardWebhook([key], ID, TS, BODY)).toBe(SIG);
    }
    const unpadded = standardWebhooksKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS');
    const key = Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS=', 'base64');
    expect(signStandardWebhook([unpadded], 'm', 1, 'b')).toBe(`v1,${createHmac('sha256', key).update('m.1.b').digest('base64')}`);
  });

  it('parses whpk_ and whsk_ keys (64-byte seed‖public, or the 32-byte seed)', () => {
    const pair = generateStandardWebhooksKeyPair();
    expect(pair.secretKey).toMatch(/^whsk_[A-Za-z0-9+/]{86}==$/);
    expect(pair.publicKey).toMatch(/^whpk_[A-Za-z0-9+/]{43}=$/);
    const signer = standardWebhooksKey(pair.secretKey);
    const seedOnly = standardWebhooksKey(`whsk_${Buffer.from(pair.secretKey.slice(5), 'base64').subarray(0, 32).toString('base64')}`);
    const verifier = standardWebhooksKey(pair.publicKey);
    expect([signer.type, signer.canSign, verifier.type, verifier.canSign]).toEqual(['ed25519', true, 'ed25519', false]);
    const header = signStandardWebhook([signer], ID, TS, BODY);
    expect(header).toMatch(/^v1a,/);
    expect(signStandardWebhook([seedOnly], ID, TS, BODY)).toBe(header);
    expect(verifyStandardWebhookSignature([verifier], ID, String(TS), BODY, header)).toBe(true);
    expect(verifyStandardWebhookSignature([signer], ID, String(TS), BODY, header)).toBe(true);
    expect(verifyStandardWebhookSignature([verifier], ID, String(TS), `${BODY} `, header)).toBe(false);
  });

  it('refuses malformed keys with InvalidOptionError naming the option, never showing the key', () => {
    const pair = generateStandardWebhooksKeyPair();
    const other = generateStandardWebhooksKeyPair();
    const mismatched = `whsk_${Buffer.concat([
      Buffer.from(pair.secretKey.slice(5), 'base64').subarray(0, 32),
      Buffer.from(other.publicKey.slice(5), 'base64'),
    ]).toString('base64')}`;
    for (const bad of ['', 'whsec_', 'whsec_not base64!', 'whpk_AAAA', 'whsk_AAAA', mismatched, new Uint8Array(0)]) {
      const err = optionError(() => standardWebhooksKey(bad, 'secrets[0]'));
      expect([err.code, err.option]).toEqual(['WEIR_INVALID_OPTION', 'secrets[0]']);
      if (typeof bad === 'string' && bad.length > 6) expect(err.message).not.toContain(bad.slice(5, 20));
    }
  });

  it('never shows its key material when printed or serialized', () => {
    for (const key of [standardWebhooksKey(SECRET), standardWebhooksKey(generateStandardWebhooksKeyPair().secretKey)]) {
      const printed = `${inspect(key)} ${JSON.stringify(key)} ${JSON.stringify(Object.entries(key))}`;
      expect(printed).not.toContain('MfKQ9r8');
      expect(printed).not.toMatch(/[A-Za-z0-9+/]{40}/);
      expect(JSON.parse(JSON.stringify(key))).toEqual({ type: key.type });
    }
  });
});

describe('signing and verifying', () => {
  const key = standardWebhooksKey(SECRET);

  it('verifies the published vector and rejects its near misses', () => {
    expect(verifyStandardWebhookSignature([key], ID, String(TS), BODY, SIG)).toBe(true);
    expect(verifyStandardWebhookSignature([key], ID, String(TS), Buffer.from(BODY), SIG)).toBe(true);
    for (const header of ['', 'v1', 'v1,', 'garbage', SIG.replace('v1,', 'v2,'), SIG.replace('v1,', 'v1a,'), `${SIG.slice(0, -2)}A=`, SIG.slice(0, -1)]) {
      expect(verifyStandardWebhookSignature([key], ID, String(TS), BODY, header)).toBe(false);
    }
    expect(verifyStandardWebhookSignature([key], ID, String(TS + 1), BODY, SIG)).toBe(false);
  });

  it('accepts any matching entry among several, with extra spaces, and ignores unknown versions', () => {
    const other = standardWebhooksKey(generateStandardWebhooksSecret());
    const header = `v2,abc  ${signStandardWebhook([other], ID, TS, BODY)} ${SIG}`;
    expect(verifyStandardWebhookSignature([key], ID, String(TS), BODY, header)).toBe(true);
    expect(verifyStandardWebhookSignature([other], ID, String(TS), BODY, header)).toBe(true);
  });

  it('signs one entry per key; refuses an empty key list, a public-only key and a bad timestamp', () => {
    const k2 = standardWebhooksKey(generateStandardWebhooksSecret(64));
    expect(signStandardWebhook([key, k2], ID, TS, BODY).split(' ')).toHaveLength(2);
    expect(optionError(() => signStandardWebhook([], ID, TS, BODY)).option).toBe('secrets');
    expect(optionError(() => signStandardWebhook([standardWebhooksKey(generateStandardWebhooksKeyPair().publicKey)], ID, TS, BODY)).code).toBe('WEIR_INVALID_OPTION');
    expect(optionError(() => signStandardWebhook([key], ID, 1.5, BODY)).option).toBe('timestamp');
  });

  it('generates secrets of 24 to 64 bytes', () => {
    expect(Buffer.from(generateStandardWebhooksSecret().slice(6), 'base64')).toHaveLength(32);
    expect(Buffer.from(generateStandardWebhooksSecret(24).slice(6), 'base64')).toHaveLength(24);
    expect(generateStandardWebhooksSecret()).not.toBe(generateStandardWebhooksSecret());
    expect(optionError(() => generateStandardWebhooksSecret(16)).option).toBe('bytes');
  });
});
