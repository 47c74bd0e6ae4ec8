import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseDuration } from '../../src/config.js';
import { CredentialCipher } from '../../src/store/crypto.js';
import { maskSecret } from '../../src/providers/secrets.js';

describe('credential cipher', () => {
  const cipher = new CredentialCipher({ current: 1, keys: new Map([[1, randomBytes(32)]]) });

  it('round-trips with a fresh nonce each time', () => {
    const a = cipher.seal('{"secret":"s"}', 't1/dst_1');
    const b = cipher.seal('{"secret":"s"}', 't1/dst_1');
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.data).not.toBe(b.data);
    expect(cipher.open(a, 't1/dst_1')).toBe('{"secret":"s"}');
  });

  it('refuses a ciphertext moved to another record or tampered with', () => {
    const sealed = cipher.seal('{"secret":"s"}', 't1/dst_1');
    expect(() => cipher.open(sealed, 't2/dst_1')).toThrow();
    expect(() => cipher.open({ ...sealed, data: Buffer.from('x').toString('base64') }, 't1/dst_1')).toThrow();
  });

  it('masks all but the last four characters of long values', () => {
    expect(maskSecret('abcdefghijklmnop')).toBe('••••mnop');
    expect(maskSecret('short')).toBe('••••');
  });
});

describe('configuration', () => {
  it('parses durations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('soon')).toBeUndefined();
  });

  it('has the documented defaults and explains a bad value', () => {
    const config = loadConfig({});
    expect(config.delivery.retryWindowMs).toBe(86_400_000);
    expect(config.allowInsecureEndpoints).toBe(false);
    expect(() => loadConfig({ AUDITSTREAM_RETRY_WINDOW: 'forever' })).toThrow(ConfigError);
    expect(() => loadConfig({ AUDITSTREAM_RETRY_WINDOW: 'forever' })).toThrow(/AUDITSTREAM_RETRY_WINDOW must be a duration/);
  });
});
