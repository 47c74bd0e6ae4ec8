import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildWebhookRequest, deliveryIdOf, envelopeBytes } from '../../src/providers/webhook/request.js';
import { signatureHeaderValue } from '../../src/providers/webhook/signature.js';
import { Webhook } from 'standardwebhooks';
import { verify, verifyStandard } from '../../examples/webhook-receiver.js';
import { encodeWebhookEvent } from '../../src/providers/webhook/encode.js';
import type { AuditEvent } from '../../src/model.js';

const event = (id: string): AuditEvent => ({
  id,
  occurredAt: new Date('2026-01-01T00:00:00Z'),
  receivedAt: new Date('2026-01-01T00:00:01Z'),
  action: 'user.login',
  outcome: 'success',
});
const target = { id: 'dst_a', tenantId: 't', provider: 'webhook' as const, endpoint: 'https://x.example/h', settings: {}, credentials: { secret: 'shh-secret' } };

describe('webhook signature', () => {
  it('signs "<t>.<exact body bytes>" with HMAC-SHA256 and verifies within tolerance', () => {
    const now = new Date('2026-06-01T12:00:00Z');
    const request = buildWebhookRequest([encodeWebhookEvent(event('e1'), target)], target, now);
    const t = Math.floor(now.getTime() / 1000);
    const expected = createHmac('sha256', 'shh-secret').update(`${t}.${request.body.toString('utf8')}`).digest('hex');
    expect(request.headers['x-truthlocks-signature']).toBe(`t=${t},v1=${expected}`);
    // The README's receiver recipe (examples/webhook-receiver.ts) accepts it, and nothing else.
    const header = request.headers['x-truthlocks-signature'];
    expect(verify(header, request.body, 'shh-secret', t + 299)).toBeUndefined();
    expect(verify(header, request.body, 'shh-secret', t + 301)).toBe('stale timestamp');
    expect(verify(header, request.body, 'other', t)).toBe('bad signature');
    const tampered = Buffer.from(request.body.toString('utf8').replace('user.login', 'user.logout'));
    expect(verify(header, tampered, 'shh-secret', t)).toBe('bad signature');
  });

  it('accepts any of several v1 signatures (secret rotation)', () => {
    const body = Buffer.from('{"events":[]}');
    const header = signatureHeaderValue(['old-secret', 'new-secret'], 1000, body);
    expect(verify(header, body, 'old-secret', 1000)).toBeUndefined();
    expect(verify(header, body, 'new-secret', 1000)).toBeUndefined();
    expect(verify(header, body, 'third-secret', 1000)).toBe('bad signature');
  });

  it('carries a delivery id, stable for the same events, in the body and a header', () => {
    const events = [encodeWebhookEvent(event('e1'), target), encodeWebhookEvent(event('e2'), target)];
    const request = buildWebhookRequest(events, target, new Date());
    const body = JSON.parse(request.body.toString('utf8'));
    expect(body.deliveryId).toBe(deliveryIdOf('dst_a', events));
    expect(request.headers['x-truthlocks-delivery-id']).toBe(body.deliveryId);
    expect(deliveryIdOf('dst_a', events)).toBe(deliveryIdOf('dst_a', [...events]));
    expect(deliveryIdOf('dst_a', events)).not.toBe(deliveryIdOf('dst_a', events.slice(1)));
    expect(body.events.map((e: { id: string }) => e.id)).toEqual(['e1', 'e2']);
    const eventBytes = events.reduce((sum, e) => sum + e.bytes.length, 0) + 1;
    expect(request.body.length).toBe(envelopeBytes + eventBytes);
  });

  it('also signs per Standard Webhooks, verified by the official package, with the delivery id as webhook-id', () => {
    const now = new Date();
    const request = buildWebhookRequest([encodeWebhookEvent(event('e1'), target)], target, now);
    const t = Math.floor(now.getTime() / 1000);
    const body = JSON.parse(request.body.toString('utf8'));
    expect(request.headers['webhook-id']).toBe(body.deliveryId);
    expect(request.headers['webhook-timestamp']).toBe(String(t));
    expect(request.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    const official = new Webhook(new TextEncoder().encode('shh-secret'), { format: 'raw' });
    expect(official.verify(request.body.toString('utf8'), request.headers)).toEqual(body);
    expect(verifyStandard(request.headers, request.body, 'other')).toBe('No matching signature found');
    const tampered = Buffer.from(request.body.toString('utf8').replace('user.login', 'user.logout'));
    expect(verifyStandard(request.headers, tampered, 'shh-secret')).toBe('No matching signature found');
  });

  it('takes a whsec_ secret as Standard Webhooks defines it (base64), so the package verifies with the secret as given', () => {
    const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
    const request = buildWebhookRequest([encodeWebhookEvent(event('e1'), target)], { ...target, credentials: { secret } }, new Date());
    expect(() => new Webhook(secret).verify(request.body.toString('utf8'), request.headers)).not.toThrow();
    expect(verify(request.headers['x-truthlocks-signature'], request.body, secret)).toBeUndefined();
  });
});
