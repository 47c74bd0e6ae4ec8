// Masking rules: what each drops or tokenises, that tokens are keyed per tenant (never a plain
// hash), and what the parser refuses.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/model.js';
import { maskToken, parseMaskRules, TenantMasking } from '../../src/subscription/masking.js';

const event: AuditEvent & { seq: number } = {
  id: 'evt-1',
  seq: 7,
  occurredAt: new Date(0),
  receivedAt: new Date(0),
  action: 'user.login',
  outcome: 'success',
  actor: { type: 'user', id: 'ada@example.com', name: 'Ada', ip: '203.0.113.9', userAgent: 'curl/8' },
  resource: { type: 'document', id: 'doc-1' },
  requestId: 'req-1',
  metadata: { card: { number: '4111111111111111', brand: 'visa' }, attempts: 3 },
};

describe('masking', () => {
  const masking = new TenantMasking(randomBytes(32));

  it('drops fields and replaces others by the tenant’s token, leaving the event it was given untouched', () => {
    const rules = parseMaskRules([
      { field: 'actor.id', action: 'hmac' },
      { field: 'actor.ip', action: 'drop' },
      { field: 'metadata.card.number', action: 'hmac' },
      { field: 'metadata.attempts', action: 'hmac' },
      { field: 'request_id', action: 'drop' },
      { field: 'resource.name', action: 'drop' }, // absent: nothing to do
    ]);
    const masked = masking.masker('acme', rules)(event);
    expect(masked).toEqual({
      ...event,
      actor: { type: 'user', id: masking.token('acme', 'ada@example.com'), name: 'Ada', userAgent: 'curl/8' },
      requestId: undefined,
      metadata: { card: { number: masking.token('acme', '4111111111111111'), brand: 'visa' }, attempts: masking.token('acme', '3') },
    });
    expect('requestId' in masked).toBe(false);
    expect(masked.seq).toBe(7);
    expect(event.actor?.ip).toBe('203.0.113.9');
    expect((event.metadata!.card as { number: string }).number).toBe('4111111111111111');
  });

  it('gives the same value the same token within a tenant, another in another tenant, and never a plain hash', () => {
    const token = masking.token('acme', 'ada@example.com');
    expect(token).toMatch(/^hmac_[A-Za-z0-9_-]{22}$/);
    expect(masking.token('acme', 'ada@example.com')).toBe(token);
    expect(masking.token('globex', 'ada@example.com')).not.toBe(token);
    expect(new TenantMasking(randomBytes(32)).token('acme', 'ada@example.com')).not.toBe(token);
    const plain = createHash('sha256').update('ada@example.com').digest();
    expect(token.slice(5)).not.toBe(plain.subarray(0, 16).toString('base64url'));
    expect(maskToken(Buffer.alloc(32), 'x')).not.toBe(maskToken(Buffer.alloc(32, 1), 'x'));
  });

  it('leaves an event alone without rules', () => {
    expect(masking.masker('acme', [])(event)).toBe(event);
    expect(masking.masker('acme', undefined)(event)).toBe(event);
  });

  it.each([
    [[{ field: 'action', action: 'drop' }], 'masking.rules[0].field: "action" cannot be masked; use one of actor.id, actor.name, actor.ip, actor.user_agent, resource.id, resource.name, request_id, metadata.<key>'],
    [[{ field: 'metadata.', action: 'drop' }], 'masking.rules[0].field: "metadata." cannot be masked'],
    [[{ field: 'metadata.a..b', action: 'drop' }], 'masking.rules[0].field: "metadata.a..b" cannot be masked'],
    [[{ field: 'constructor', action: 'drop' }], 'masking.rules[0].field: "constructor" cannot be masked'],
    [[{ field: 'actor.ip', action: 'sha256' }], 'masking.rules[0].action must be one of drop, hmac (got "sha256")'],
    [[{ field: 'actor.ip', action: 'drop' }, { field: 'actor.ip', action: 'hmac' }], 'masking.rules[1]: actor.ip is masked twice; keep one rule for it'],
    [Array.from({ length: 33 }, (_, i) => ({ field: `metadata.k${i}`, action: 'drop' })), 'masking: at most 32 rules (got 33)'],
  ])('refuses %j', (rules, message) => {
    expect(() => parseMaskRules(rules)).toThrow(message);
  });
});
