// The delivery activities against the real store and a real receiver (run in Temporal's
// activity test environment): what a delivery reads from the buffer and in which order, that
// it never releases, how `record` mirrors and releases, and what a missing batch means.
import { randomBytes, randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDeliveryActivities, type DeliverInput, type DeliveryActivities, type StateRecord } from '../../activities/delivery.js';
import { loadConfig } from '../../src/config.js';
import type { AuditEvent } from '../../src/model.js';
import { EgressPolicy } from '../../src/providers/egress.js';
import { HttpClient } from '../../src/providers/http.js';
import { CredentialCipher } from '../../src/store/crypto.js';
import { DestinationStore } from '../../src/store/destinations.js';
import { ServiceEvents } from '../../src/audit/self-audit.js';
import { AuditLog } from '../../src/store/audit-log.js';
import { BackfillStore } from '../../src/store/backfills.js';
import { EventStore } from '../../src/store/events.js';
import { connectStore, type Store } from '../../src/store/mongo.js';
import type { PendingRange } from '../../workflows/ranges.js';
import type { DeliveryProgress } from '../../workflows/state.js';
import { stack } from '../support/clients.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/receiver.js';

const retentionMs = 3600_000;
let store: Store;
let events: EventStore;
let destinations: DestinationStore;
let activities: DeliveryActivities;
/** The same activities with the default budget of 20,000 events per delivery. */
let defaultActivities: DeliveryActivities;
let receiver: WebhookReceiver;
let destinationId: string;
let tenantId: string;

function batchOf(firstSeq: number, size: number, createdAt = new Date()) {
  const seqs = Array.from({ length: size }, (_, i) => firstSeq + i);
  const batchEvents: AuditEvent[] = seqs.map((seq) => ({ id: `e${seq}`, occurredAt: createdAt, receivedAt: createdAt, action: 'user.login', outcome: 'success' }));
  return {
    _id: `${tenantId}:${firstSeq}`, tenantId, firstSeq, lastSeq: firstSeq + size - 1, count: size, destinations: [destinationId], createdAt, events: batchEvents, seqs, pendingFor: [destinationId],
  };
}

const range = (lo: number, hi: number, at = Date.now()): PendingRange => ({ lo, hi, count: hi - lo + 1, at });
const record: StateRecord = {
  status: 'active', statusReason: '', enabled: true, backlogEvents: 0, delivered: 0, rejected: 0, dropped: 0, failures: 0, pendingRanges: 0, settledIntervals: 0, stateBytes: 0,
};

function deliver(expect: PendingRange[], options: Partial<DeliverInput> = {}, attempt = 1, using = activities): Promise<DeliveryProgress> {
  return new MockActivityEnvironment({ attempt }).run(using.deliver, { destinationId, tenantId, expect, probe: false, record, release: [], ...options });
}

const arrived = () => receiver.acceptedEventIds();

beforeAll(async () => {
  store = await connectStore(stack.mongodbUri, `activity_${randomUUID().slice(0, 8)}`);
  events = new EventStore(store.collections);
  destinations = new DestinationStore(store.collections, new CredentialCipher({ current: 1, keys: new Map([[1, randomBytes(32)]]) }));
  receiver = await startWebhookReceiver(stack.pki, 'activity-secret');
  const http = new HttpClient({ timeoutMs: 5_000, caFile: stack.pki.caFile, egress: new EgressPolicy(['127.0.0.1/32']) });
  const delivery = loadConfig({}).delivery;
  const dependencies = {
    collections: store.collections,
    destinations,
    events,
    http,
    serviceEvents: new ServiceEvents(store.collections),
    auditLog: new AuditLog(store.db, loadConfig({}).auditLog),
    backfills: new BackfillStore(store.collections),
    bufferRetentionMs: retentionMs,
  };
  activities = createDeliveryActivities({ ...dependencies, delivery: { ...delivery, maxEventsPerActivity: 15 } });
  defaultActivities = createDeliveryActivities({ ...dependencies, delivery });
});

// Every test has its own tenant and destination, so buffers never mix.
beforeEach(async () => {
  tenantId = `tenant-${randomUUID().slice(0, 8)}`;
  destinationId = (
    await destinations.create(tenantId, {
      name: 'receiver', provider: 'webhook', endpoint: receiver.url, enabled: true, settings: {}, credentials: { secret: 'activity-secret' },
    })
  )._id;
  receiver.accepted.length = 0;
});

afterAll(async () => {
  await receiver?.close();
  await store?.db.dropDatabase();
  await store?.close();
});

describe('delivery activity', () => {
  it('sends the buffered batches in seq order up to its budget, stops inside a batch, and resumes there', async () => {
    for (const [firstSeq, size] of [[21, 5], [1, 10], [11, 10]]) await events.insertBatch(batchOf(firstSeq, size));
    const first = await deliver([range(1, 25)]);
    expect(arrived()).toEqual(Array.from({ length: 15 }, (_, i) => `e${i + 1}`));
    expect(first).toMatchObject({
      settled: [{ lo: 1, hi: 10, count: 10 }, { lo: 11, hi: 15, count: 5 }],
      delivered: 15,
      releasable: [[1, 10]],
      partial: { firstSeq: 11, from: 16 },
      missing: [],
    });
    // It never releases: the workflow does, once it has recorded the settlement.
    expect(await events.batchExists(`${tenantId}:1`)).toBe(true);

    const second = await deliver([range(16, 25)], { partial: first.partial, release: first.releasable });
    expect(arrived().slice(15)).toEqual(Array.from({ length: 10 }, (_, i) => `e${i + 16}`));
    expect(second).toMatchObject({ settled: [{ lo: 16, hi: 20, count: 5 }, { lo: 21, hi: 25, count: 5 }], releasable: [[11, 25]], missing: [] });
    expect(second.partial).toBeUndefined();
    expect(await events.batchExists(`${tenantId}:1`)).toBe(false); // released by the second delivery, before it read
  });

  it('repeats a delivery whose completion was lost: the batch is still buffered and is sent again, never counted as dropped', async () => {
    await events.insertBatch(batchOf(1, 5));
    expect((await deliver([range(1, 5)])).delivered).toBe(5);
    // Temporal never heard of that attempt (its server died): the activity runs again, attempt 3.
    const again = await deliver([range(1, 5)], {}, 3);
    expect(again).toMatchObject({ delivered: 5, missing: [] });
    expect(arrived()).toEqual(['e1', 'e2', 'e3', 'e4', 'e5', 'e1', 'e2', 'e3', 'e4', 'e5']);
  });

  it('sends a batch that was buffered but never announced (its announcer crashed) before later ones', async () => {
    await events.insertBatch(batchOf(1, 3));
    await events.insertBatch(batchOf(4, 2));
    expect(await deliver([range(4, 5)])).toMatchObject({ settled: [{ lo: 1, hi: 3, count: 3 }, { lo: 4, hi: 5, count: 2 }], delivered: 5 });
    expect(arrived()).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
  });

  it('takes a range announced again after it was settled and released off the backlog, uncounted; a lost one is counted', async () => {
    await events.insertBatch(batchOf(11, 3));
    const progress = await deliver([range(1, 5), range(6, 10, Date.now() - retentionMs - 1_000), range(11, 13)]);
    expect(progress.missing).toEqual([{ lo: 1, count: 5, lost: false }, { lo: 6, count: 5, lost: true }]);
    expect(progress.delivered).toBe(3);
    expect(arrived()).toEqual(['e11', 'e12', 'e13']);
  });

  it('sends a probe of at most 100 events while failing, even from a larger stored batch', async () => {
    await events.insertBatch(batchOf(1, 300));
    receiver.respondWith(() => ({ status: 503 }));
    try {
      await expect(deliver([range(1, 300)], { probe: true }, 1, defaultActivities)).rejects.toThrow(/webhook answered HTTP 503/);
      expect(receiver.attempts).toBeGreaterThan(0);
    } finally {
      receiver.respondWith(() => ({ status: 200 }));
    }
    const probe = await deliver([range(1, 300)], { probe: true }, 1, defaultActivities);
    expect(probe).toMatchObject({ delivered: 100, partial: { firstSeq: 1, from: 101 } });
    expect(arrived()).toHaveLength(100);
  });

  it('record mirrors the state, then releases what it names; a later delivery no longer reads it', async () => {
    await events.insertBatch(batchOf(1, 2));
    await events.insertBatch(batchOf(3, 2));
    await activities.record({ destinationId, tenantId, record: { ...record, delivered: 2, status: 'degraded', statusReason: 'why' }, release: [[1, 2]] });
    const doc = await destinations.byId(destinationId);
    expect(doc!.delivery).toMatchObject({ status: 'degraded', statusReason: 'why', counters: { delivered: 2, dropped: 0, rejected: 0 }, releasing: [{ lo: 1, hi: 2 }] });
    expect((await events.readPending(tenantId, destinationId, 10)).map((b) => b.firstSeq)).toEqual([3]);
  });

  it('recovers a workflow’s state from MongoDB: recorded counts and status, the buffer as backlog, a release half done finished', async () => {
    await events.insertBatch(batchOf(1, 4));
    await events.insertBatch(batchOf(5, 6));
    await events.insertBatch(batchOf(11, 2));
    // Recorded: 4 delivered, a release of 1..4 under way, and a delivery that stopped inside the batch at 5.
    await destinations.recordDelivery(destinationId, {
      status: 'degraded', statusReason: 'webhook answered HTTP 503', backlog: { events: 8 }, counters: { delivered: 6, dropped: 1, rejected: 0 },
      failingSince: new Date(1_000), partial: { firstSeq: 5, from: 7 }, releasing: [{ lo: 1, hi: 4 }], recordedAt: new Date(),
    });
    const recovered: Awaited<ReturnType<DeliveryActivities['recover']>> = await new MockActivityEnvironment().run(activities.recover, { destinationId, tenantId });
    const { state } = recovered;
    expect(state).toMatchObject({ status: 'degraded', counts: { delivered: 6, dropped: 1, rejected: 0 }, failingSince: 1_000, partial: { firstSeq: 5, from: 7 } });
    expect(state.pending.map(({ lo, hi, count }) => [lo, hi, count])).toEqual([[7, 12, 6]]);
    expect(await events.batchExists(`${tenantId}:1`)).toBe(false);
  });
});
