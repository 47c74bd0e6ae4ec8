// The generic delivery over a scripted provider: limits, splitting, isolation, progress.
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/model.js';
import { DeliveryFailure, deliverEvents } from '../../src/providers/deliver.js';
import type { EncodedEvent, Provider, SendOutcome } from '../../src/providers/provider.js';

const events = (n: number, size = 10): AuditEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `e${i}`,
    occurredAt: new Date(0),
    receivedAt: new Date(0),
    action: 'x'.repeat(size),
    outcome: 'unknown',
  }));

function scripted(answer: (batch: EncodedEvent[]) => SendOutcome) {
  const requests: string[][] = [];
  const provider: Provider = {
    name: 'webhook',
    title: 'Scripted',
    transport: 'none',
    endpointExample: 'https://example.com',
    setup: [],
    credentials: { secret: { label: 'Secret', about: 'a secret' } },
    settings: {},
    limits: { maxEventsPerRequest: 4, maxBytesPerRequest: 100, maxBytesPerEvent: 40 },
    framing: { perRequest: 10, perEvent: 1 },
    encode: (event) => ({ event, record: JSON.stringify({ action: event.action }), bytes: Buffer.from(event.action) }),
    async send(batch) {
      requests.push(batch.map((item) => item.event.id));
      return answer(batch);
    },
  };
  return { provider, requests };
}

const target = { id: 'd', tenantId: 't', provider: 'webhook' as const, endpoint: 'https://x', settings: {}, credentials: {} };
const context = { http: {} as never, now: () => new Date() };

describe('deliverEvents', () => {
  it('packs requests up to the count and byte limits, in order', async () => {
    const { provider, requests } = scripted(() => ({ kind: 'ok' }));
    const report = await deliverEvents(provider, target, events(10, 20), context);
    // 10 bytes framing + 4 × 21 = 94 ≤ 100 → 4 events per request
    expect(requests).toEqual([['e0', 'e1', 'e2', 'e3'], ['e4', 'e5', 'e6', 'e7'], ['e8', 'e9']]);
    expect(report).toEqual({ delivered: 10, rejected: [], confirmed: 10, digests: [] });
  });

  it('rejects an event over the per-event limit without sending it', async () => {
    const { provider, requests } = scripted(() => ({ kind: 'ok' }));
    const input = events(3);
    input[1].action = 'x'.repeat(41);
    const report = await deliverEvents(provider, target, input, context);
    expect(requests).toEqual([['e0', 'e2']]);
    expect(report.rejected).toEqual([{ eventId: 'e1', reason: 'event is 41 bytes, over the webhook limit of 40 bytes per event' }]);
  });

  it('halves a request the destination finds bad until the bad event stands alone', async () => {
    const { provider, requests } = scripted((batch) =>
      batch.some((item) => item.event.id === 'e2') ? { kind: 'split', reason: 'HTTP 400: bad item' } : { kind: 'ok' },
    );
    const report = await deliverEvents(provider, target, events(4), context);
    expect(requests).toEqual([['e0', 'e1', 'e2', 'e3'], ['e0', 'e1'], ['e2', 'e3'], ['e2'], ['e3']]);
    expect(report).toEqual({ delivered: 3, rejected: [{ eventId: 'e2', reason: 'HTTP 400: bad item' }], confirmed: 4, digests: [] });
  });

  it('resends only the items the destination asked for again', async () => {
    let round = 0;
    const { provider, requests } = scripted(() =>
      round++ === 0 ? { kind: 'partial', rejected: [{ index: 0, reason: 'mapping' }], retry: [2], reason: 'item 429' } : { kind: 'ok' },
    );
    const report = await deliverEvents(provider, target, events(3), context);
    expect(requests).toEqual([['e0', 'e1', 'e2'], ['e2']]);
    expect(report).toEqual({ delivered: 2, rejected: [{ eventId: 'e0', reason: 'mapping' }], confirmed: 3, digests: [] });
  });

  it('stops between requests once cancelled, reporting what went', async () => {
    const controller = new AbortController();
    const { provider, requests } = scripted(() => {
      controller.abort();
      return { kind: 'ok' };
    });
    const report = await deliverEvents(provider, target, events(10, 20), { ...context, signal: controller.signal });
    expect(requests).toEqual([['e0', 'e1', 'e2', 'e3']]);
    expect(report).toEqual({ delivered: 4, rejected: [], confirmed: 4, digests: [] });
  });

  it('stops at a retryable failure and says how far delivery got', async () => {
    const { provider } = scripted((batch) => (batch[0].event.id === 'e4' ? { kind: 'retry', reason: 'HTTP 503', retryAfterMs: 2000 } : { kind: 'ok' }));
    const progress: number[] = [];
    const failure = await deliverEvents(provider, target, events(10, 20), context, (n) => progress.push(n)).catch((e) => e);
    expect(failure).toBeInstanceOf(DeliveryFailure);
    expect(failure).toMatchObject({ failureClass: 'retry', message: 'HTTP 503', confirmed: 4, retryAfterMs: 2000 });
    expect(progress).toEqual([4]);
  });
});
