// Drives a provider directly (encode → request → send → classify) against a fake, plus an
// end-to-end path through the running service.
import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '../../src/model.js';
import { deliverEvents, sendTo } from '../../src/providers/deliver.js';
import { EgressPolicy } from '../../src/providers/egress.js';
import { HttpClient } from '../../src/providers/http.js';
import { providerFor, type ProviderName } from '../../src/providers/index.js';
import type { Credentials, DeliveryTarget, ProviderSettings, SendContext } from '../../src/providers/provider.js';
import { stack } from './clients.js';

export const http = new HttpClient({ timeoutMs: 5_000, caFile: stack.pki.caFile, egress: new EgressPolicy(['127.0.0.1/32']) });
export const context: SendContext = { http, now: () => new Date() };

export function target(provider: ProviderName, endpoint: string, credentials: Credentials, settings: ProviderSettings = {}): DeliveryTarget {
  return { id: `dst_${randomUUID().replace(/-/g, '').slice(0, 20)}`, tenantId: 'tenant-contract', provider, endpoint, settings, credentials };
}

export function auditEvents(n: number, prefix = 'evt', build: (i: number) => Partial<AuditEvent> = () => ({})): AuditEvent[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    occurredAt: new Date(now - (n - i) * 1000),
    receivedAt: new Date(now),
    action: 'user.login',
    outcome: 'success' as const,
    actor: { type: 'user', id: `u-${i}`, name: 'Ada', ip: '203.0.113.9', userAgent: 'curl/8' },
    ...build(i),
  }));
}

export async function send(t: DeliveryTarget, events: AuditEvent[]) {
  const provider = providerFor(t.provider);
  return sendTo(provider, events.map((event) => provider.encode(event, t, new Date())), t, context);
}

export function deliver(t: DeliveryTarget, events: AuditEvent[]) {
  return deliverEvents(providerFor(t.provider), t, events, context);
}

/** Bytes one encoded event takes in a request of this provider (encoding + per-event framing). */
export function encodedSize(t: DeliveryTarget, event: AuditEvent): number {
  const provider = providerFor(t.provider);
  return provider.encode(event, t, new Date()).bytes.length + provider.framing.perEvent;
}

/**
 * Events whose request body is exactly `limit` bytes (uncompressed) for this provider:
 * the last event's action is padded to land on the byte.
 */
export function eventsFilling(t: DeliveryTarget, limit: number, prefix: string, padEach = 0): AuditEvent[] {
  const provider = providerFor(t.provider);
  const events: AuditEvent[] = [];
  let total = provider.framing.perRequest;
  for (let i = 0; ; i++) {
    const [event] = auditEvents(1, `${prefix}-${i}`, () => ({ metadata: { pad: 'y'.repeat(padEach) } }));
    const size = encodedSize(t, event);
    if (total + 2 * size > limit) {
      // Padding goes into metadata, which every encoding carries exactly once, byte for byte.
      const probe: AuditEvent = { ...event, metadata: { pad: '' } };
      probe.metadata = { pad: 'x'.repeat(limit - total - encodedSize(t, probe)) };
      events.push(probe);
      total += encodedSize(t, probe);
      break;
    }
    events.push(event);
    total += size;
  }
  if (total !== limit) throw new Error(`could not fill exactly ${limit} bytes (got ${total})`);
  return events;
}

export function oneByteMore(events: AuditEvent[]): AuditEvent[] {
  const last = events[events.length - 1];
  return [...events.slice(0, -1), { ...last, metadata: { pad: `${last.metadata!.pad}x` } }];
}
