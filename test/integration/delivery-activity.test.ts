// The delivery activity against the real store and a real receiver (run in Temporal's
// activity test environment): what it reads from the buffer, in which order, and what it
// does when a batch it was told about is not there.
import { randomBytes, randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeliveryActivities, type DeliveryActivities, type DeliveryProgress } from '../../activities/delivery.js';
import type { AuditEvent } from '../../src/model.js';
import { EgressPolicy } from '../../src/providers/egress.js';
import { HttpClient } from '../../src/providers/http.js';
import { CredentialCipher } from '../../src/store/crypto.js';
import { DestinationStore } from '../../src/store/destinations.js';
import { EventStore } from '../../src/store/events.js';
import { connectStore, type Store } from '../../src/store/mongo.js';
import type { PendingRange } from '../../workflows/ranges.js';
import { stack } from '../support/clients.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/receiver.js';

const retentionMs = 3600_000;
let store: Store;
let events: EventStore;
let activities: DeliveryActivities;
let receiver: WebhookReceiver;
let destinationId: string;
const tenantId = 'activity-tenant';

function batchOf(firstSeq: number, size: number, createdAt = new Date()) {
  const batchEvents: AuditEvent[] = Array.from({ length: size }, (_, i) => ({
    id: `e${firstSeq + i}`, occurredAt: createdAt, receivedAt: createdAt, action: 'user.login', outcome: 'success',
  }));
  const lastSeq = firstSeq + size - 1;
  return {
    _id: `${tenantId}:${firstSeq}`, tenantId, firstSeq, lastSeq, count: size, destinations: [destinationId], createdAt, events: batchEvents, pendingFor: [destinationId],
  };
}

function range(lo: number, hi: number, at = Date.now()): PendingRange {
  return { lo, hi, count: hi - lo + 1, at };
}

const deliver = (ranges: PendingRange[], maxEvents = 5_000, attempt = 1): Promise<DeliveryProgress> =>
  new MockActivityEnvironment({ attempt }).run(activities.deliver, { destinationId, tenantId, ranges, maxEvents });

beforeAll(async () => {
  store = await connectStore(stack.mongodbUri, `activity_${randomUUID().slice(0, 8)}`);
  events = new EventStore(store.collections);
  const destinations = new DestinationStore(store.collections, new CredentialCipher({ current: 1, keys: new Map([[1, randomBytes(32)]]) }));
  receiver = await startWebhookReceiver(stack.pki, 'activity-secret');
  destinationId = (
    await destinations.create(tenantId, {
      name: 'receiver', provider: 'webhook', endpoint: receiver.url, enabled: true, settings: {}, credentials: { secret: 'activity-secret' },
    })
  )._id;
  const http = new HttpClient({ timeoutMs: 5_000, caFile: stack.pki.caFile, egress: new EgressPolicy(['127.0.0.1/32']) });
  activities = createDeliveryActivities({ collections: store.collections, destinations, events, http, bufferRetentionMs: retentionMs });
});

afterAll(async () => {
  await receiver?.close();
  await store?.db.dropDatabase();
  await store?.close();
});

describe('delivery activity', () => {
  it('reads the announced ranges in seq order within the event budget, and releases what it delivered', async () => {
    for (const [firstSeq, size] of [[21, 5], [1, 10], [11, 10], [26, 5]]) await events.insertBatch(batchOf(firstSeq, size));
    const before = receiver.acceptedEventIds().length;
    const progress = await deliver([range(1, 20), range(21, 30)], 15);
    // The budget of 15 ends inside the second batch: whole batches, so 20 events, and no more.
    expect(progress.settled).toEqual([{ lo: 1, hi: 10, count: 10 }, { lo: 11, hi: 20, count: 10 }]);
    expect(receiver.acceptedEventIds().slice(before)).toEqual(Array.from({ length: 20 }, (_, i) => `e${i + 1}`));
    expect(await events.batchExists(`${tenantId}:1`)).toBe(false);
    expect(await events.batchExists(`${tenantId}:21`)).toBe(true);

    const rest = await deliver([range(21, 30)]);
    expect(rest.settled).toEqual([{ lo: 21, hi: 25, count: 5 }, { lo: 26, hi: 30, count: 5 }]);
    expect(receiver.acceptedEventIds().slice(before + 20)).toEqual(Array.from({ length: 10 }, (_, i) => `e${i + 21}`));
  });

  it('fails (to be retried) rather than drop a recent batch the store did not return', async () => {
    const before = receiver.acceptedEventIds().length;
    await expect(deliver([range(100, 104)])).rejects.toThrow(/buffered batch at seq 100 .* was not found/);
    expect(receiver.acceptedEventIds().length).toBe(before);
    // Once the store has it, the same delivery goes through.
    await events.insertBatch(batchOf(100, 5));
    expect((await deliver([range(100, 104)])).delivered).toBe(5);
  });

  it('counts a recent batch still missing after a few attempts as lost, so the destination never stalls on it', async () => {
    // What an attempt that sent and released the batch, then died before reporting, leaves.
    await expect(deliver([range(150, 154)], 5_000, 2)).rejects.toThrow(/was not found/);
    const progress = await deliver([range(150, 154)], 5_000, 3);
    expect(progress).toMatchObject({ settled: [{ lo: 150, hi: 154, count: 5 }], lost: 5, delivered: 0 });
  });

  it('counts a batch past the retention as lost, and still delivers the ranges after it', async () => {
    const before = receiver.acceptedEventIds().length;
    await events.insertBatch(batchOf(210, 3));
    const progress = await deliver([range(200, 209, Date.now() - retentionMs - 1_000), range(210, 212)]);
    expect(progress.lost).toBe(10);
    expect(progress.delivered).toBe(3);
    expect(progress.settled).toEqual([{ lo: 200, hi: 209, count: 10 }, { lo: 210, hi: 212, count: 3 }]);
    expect(receiver.acceptedEventIds().slice(before)).toEqual(['e210', 'e211', 'e212']);
  });
});
