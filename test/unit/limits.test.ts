// Per-tenant admission on a clock the test drives: the token buckets' arithmetic, exactly.
import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { Admission } from '../../src/api/limits.js';
import { loadConfig } from '../../src/config.js';

function refusal(run: () => void): ConnectError | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return error as ConnectError;
  }
}

describe('admission', () => {
  const limits = { publish: { rate: 2_000, burst: 3_000 }, manage: { rate: 10, burst: 5 }, read: { rate: 10, burst: 5 } };

  it('lets a burst through, then refuses with the exact wait, and refills at the rate', () => {
    let now = 1_000_000;
    const admission = new Admission(limits, () => now);
    for (let i = 0; i < 3; i++) admission.admit('acme', ['publish'], 'publish', 1_000);
    const refused = refusal(() => admission.admit('acme', ['publish'], 'publish', 1_000));
    expect(refused?.code).toBe(Code.ResourceExhausted);
    expect(refused?.rawMessage).toBe('rate limit of 2000 events/s (burst 3000) reached for this tenant; retry in 500 ms');
    expect(refused?.metadata.get('retry-after')).toBe('1');
    now += 499;
    expect(refusal(() => admission.admit('acme', ['publish'], 'publish', 1_000))?.rawMessage).toMatch(/retry in 1 ms$/);
    now += 1;
    expect(refusal(() => admission.admit('acme', ['publish'], 'publish', 1_000))).toBeUndefined();
    // Never more than the burst, however long it was quiet.
    now += 3_600_000;
    for (let i = 0; i < 3; i++) admission.admit('acme', ['publish'], 'publish', 1_000);
    expect(refusal(() => admission.admit('acme', ['publish'], 'publish', 1))?.code).toBe(Code.ResourceExhausted);
  });

  it('keeps a bucket per tenant and per kind of call', () => {
    const now = 0;
    const admission = new Admission(limits, () => now);
    for (let i = 0; i < 5; i++) admission.admit('acme', ['manage', 'publish'], 'manage');
    expect(refusal(() => admission.admit('acme', ['manage'], 'manage'))?.rawMessage).toBe(
      'rate limit of 10 calls/s (burst 5) reached for this tenant; retry in 100 ms',
    );
    expect(refusal(() => admission.admit('other', ['manage'], 'manage'))).toBeUndefined();
    expect(refusal(() => admission.admit('acme', ['publish'], 'publish', 1_000))).toBeUndefined();
  });

  it('refuses a call outside the key’s scopes before counting it', () => {
    const admission = new Admission(limits, () => 0);
    const refused = refusal(() => admission.admit('acme', ['publish'], 'manage'));
    expect(refused?.code).toBe(Code.PermissionDenied);
    expect(refused?.rawMessage).toBe('this API key may not manage destinations (its scopes: publish)');
    for (let i = 0; i < 5; i++) admission.admit('acme', ['manage'], 'manage');
  });

  it('refuses a publish burst smaller than one PublishEvents call', () => {
    expect(() => loadConfig({ AUDITSTREAM_PUBLISH_BURST: '999' })).toThrow(
      'AUDITSTREAM_PUBLISH_BURST must be at least 1000, the most events one PublishEvents call carries (got 999)',
    );
  });
});
