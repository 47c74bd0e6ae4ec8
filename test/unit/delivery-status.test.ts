// What Get/List derive while a dependency is down (src/api/delivery-status.ts), and how the
// API finds out (src/api/dependencies.ts).
import { describe, expect, it } from 'vitest';
import { DependencyMonitor } from '../../src/api/dependencies.js';
import { owedOf, viewDuringOutage, type Outage } from '../../src/api/delivery-status.js';
import { initialDelivery } from '../../src/store/destinations.js';
import type { DeliveryStateDoc } from '../../src/store/mongo.js';

const recordedAt = new Date('2026-12-01T10:00:00Z');
const oldest = new Date('2026-12-01T09:59:58Z');

function record(overrides: Partial<DeliveryStateDoc> = {}): DeliveryStateDoc {
  return {
    _id: 'dst_a',
    tenantId: 't',
    status: 'active',
    statusReason: '',
    backlog: { events: 5, oldestEventAt: oldest },
    counters: { delivered: 95, dropped: 0, rejected: 0 },
    pending: [{ lo: 96, hi: 100, count: 5, at: oldest, firstChunk: 3, lastChunk: 3 }],
    settled: [{ lo: 1, hi: 95 }],
    recordedAt,
    ...overrides,
  };
}

const temporalDown: Outage = { dependency: 'temporal', since: Date.parse('2026-12-01T10:00:01Z'), reason: 'connection refused' };

describe('owed events', () => {
  it('are the record’s backlog plus what the tenant accepted past the highest seq the record knows', () => {
    expect(owedOf(record(), 130, true)).toEqual({ events: 35, oldestAt: oldest });
    // Nothing pending in the record: the events since are as old as the record at most.
    expect(owedOf(record({ backlog: { events: 0 }, pending: [], settled: [{ lo: 1, hi: 100 }] }), 110, true)).toEqual({ events: 10, oldestAt: recordedAt });
  });

  it('leave out what is not dispatched to the destination, and know nothing before its first record', () => {
    expect(owedOf(record(), 130, false)).toEqual({ events: 5, oldestAt: oldest });
    expect(owedOf(record(), undefined, true)).toEqual({ events: 5, oldestAt: oldest });
    expect(owedOf(null, 130, true)).toEqual({ events: 0 });
  });
});

describe('status during an outage', () => {
  const owed = { events: 35, oldestAt: oldest };

  it('shows an active destination owed events as degraded, naming what is unreachable, with the backlog it is owed', () => {
    const view = viewDuringOutage(record(), owed, [temporalDown], true);
    expect(view.status).toBe('degraded');
    expect(view.statusReason).toBe(
      'delivery is paused: Temporal is unreachable (connection refused) since 2026-12-01T10:00:01.000Z; the 35 events waiting are kept and sent once it is back',
    );
    expect(view.backlog).toEqual({ events: 35, oldestEventAt: oldest });
    expect(view.counters).toEqual({ delivered: 95, dropped: 0, rejected: 0 });
  });

  it('leaves the record as it is when nothing is down, nothing is owed, or the destination has a status of its own', () => {
    const active = record();
    expect(viewDuringOutage(active, owed, [], true)).toBe(active);
    expect(viewDuringOutage(active, { events: 0 }, [temporalDown], true)).toBe(active);
    expect(viewDuringOutage(active, owed, [temporalDown], false)).toBe(active);
    const failing = record({ status: 'degraded', statusReason: 'webhook answered HTTP 503' });
    expect(viewDuringOutage(failing, owed, [temporalDown], true)).toBe(failing);
    expect(viewDuringOutage(initialDelivery, { events: 0 }, [temporalDown], true)).toBe(initialDelivery);
  });
});

describe('dependency monitor', () => {
  it('finds a probe that never answers unreachable within its timeout, keeps when the outage began, and clears it on recovery', async () => {
    let temporal: () => Promise<void> = () => new Promise(() => {});
    let workerProbes = 0;
    const monitor = new DependencyMonitor(
      { store: async () => {}, temporal: () => temporal(), worker: async () => void workerProbes++ },
      { intervalMs: 60_000, timeoutMs: 50 },
    );
    const started = Date.now();
    await monitor.start();
    monitor.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
    const [outage] = monitor.current();
    expect(outage).toMatchObject({ dependency: 'temporal', reason: 'no answer within 0.05 s' });
    expect(workerProbes).toBe(1);
    await (monitor as unknown as { probe(): Promise<void> }).probe();
    expect(monitor.current()[0].since).toBe(outage.since);
    temporal = async () => {};
    await (monitor as unknown as { probe(): Promise<void> }).probe();
    expect(monitor.current()).toEqual([]);
  });

  it('does not judge the workers while the store, through which they are seen, is down', async () => {
    let workerProbes = 0;
    const monitor = new DependencyMonitor(
      { store: async () => Promise.reject(new Error('connection refused')), temporal: async () => {}, worker: async () => void workerProbes++ },
      { intervalMs: 60_000, timeoutMs: 50 },
    );
    await monitor.start();
    monitor.stop();
    expect(monitor.current()).toEqual([{ dependency: 'store', since: expect.any(Number), reason: 'connection refused' }]);
    expect(workerProbes).toBe(0);
  });
});
