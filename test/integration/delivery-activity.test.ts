// The delivery activities against the real store and a real receiver (run in Temporal's
// activity test environment): what a delivery reads from the audit log's chunks and in which
// order, where it resumes, what a chunk retention took means, how `record` mirrors, and how a
// lost workflow's state is rebuilt from its mirror and the log.
import { SigningKeys } from '../../src/completeness/keys.js';
import { makeCheckpoint, zeroHash } from '../../src/completeness/stream.js';
import { deliveryFailedType } from '../../workflows/messages.js';
import { CheckpointStore } from '../../src/store/checkpoints.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDeliveryActivities, type DeliverInput, type DeliveryActivities } from '../../activities/delivery.js';
import { loadConfig } from '../../src/config.js';
import { TenantMasking } from '../../src/subscription/masking.js';
import type { AuditEvent } from '../../src/model.js';
import { EgressPolicy } from '../../src/providers/egress.js';
import { HttpClient } from '../../src/providers/http.js';
import { CredentialCipher } from '../../src/store/crypto.js';
import { DestinationStore, deliveryStateDocOf } from '../../src/store/destinations.js';
import { ServiceEvents } from '../../src/audit/self-audit.js';
import { AuditLog } from '../../src/store/audit-log.js';
import { BackfillStore } from '../../src/store/backfills.js';
import { connectStore, type Store } from '../../src/store/mongo.js';
import type { PendingRange } from '../../workflows/ranges.js';
import { initialState, takeRecord, type DeliveryProgress, type StateRecord } from '../../workflows/state.js';
import { stack } from '../support/clients.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/receiver.js';

let store: Store;
let log: AuditLog;
let destinations: DestinationStore;
let activities: DeliveryActivities;
/** The same activities with the default budget of 20,000 events per delivery. */
let defaultActivities: DeliveryActivities;
let receiver: WebhookReceiver;
let dependencies: Omit<Parameters<typeof createDeliveryActivities>[0], 'delivery'>;
let destinationId: string;
let tenantId: string;

/** Writes chunk `n` holding `size` events from seq `firstSeq`, for the test's destination unless said otherwise, and counts it in the tenant's head. */
async function chunkOf(n: number, firstSeq: number, size: number, options: { at?: Date; for?: string[] } = {}) {
  const at = options.at ?? new Date();
  const seqs = Array.from({ length: size }, (_, i) => firstSeq + i);
  const events: AuditEvent[] = seqs.map((seq) => ({ id: `e${seq}`, occurredAt: at, receivedAt: at, action: 'user.login', outcome: 'success' }));
  await log.write(tenantId, [{ n, firstSeq, lastSeq: firstSeq + size - 1, at, destinations: options.for ?? [destinationId], events, seqs }]);
  await store.collections.tenants.updateOne({ _id: tenantId }, { $max: { chunks: n + 1, seq: firstSeq + size - 1 }, $setOnInsert: { destinations: [] } }, { upsert: true });
}

const range = (lo: number, hi: number, firstChunk: number, lastChunk: number, at = Date.now()): PendingRange => ({ lo, hi, count: hi - lo + 1, at, firstChunk, lastChunk });
const record: StateRecord = takeRecord(initialState(true, loadConfig({}).delivery as never));

/** The SDK's activity log goes nowhere: deliveries failing here fail on purpose, and the test checks how. */
const quiet = new DefaultLogger('ERROR', () => {});

function deliver(expect: PendingRange[], options: Partial<DeliverInput> = {}, attempt = 1, using = activities): Promise<DeliveryProgress> {
  return new MockActivityEnvironment({ attempt }, { logger: quiet }).run(using.deliver, { destinationId, tenantId, expect, probe: false, record, stream: { next: 1, chain: zeroHash }, ...options });
}

const arrived = () => receiver.acceptedEventIds();

beforeAll(async () => {
  store = await connectStore(stack.mongodbUri, `activity_${randomUUID().slice(0, 8)}`);
  log = new AuditLog(store.db, store.collections, { ...loadConfig({}).auditLog, chunksPerPartition: 3, cacheEvents: 0 });
  destinations = new DestinationStore(store.collections, new CredentialCipher({ current: 1, keys: new Map([[1, randomBytes(32)]]) }));
  receiver = await startWebhookReceiver(stack.pki, 'activity-secret');
  const http = new HttpClient({ timeoutMs: 5_000, caFile: stack.pki.caFile, egress: new EgressPolicy(['127.0.0.1/32']) });
  const delivery = loadConfig({}).delivery;
  dependencies = {
    collections: store.collections,
    destinations,
    http,
    serviceEvents: new ServiceEvents(store.collections),
    auditLog: log,
    backfills: new BackfillStore(store.collections),
    masking: new TenantMasking(randomBytes(32)),
    signingKeys: new SigningKeys('auditstream-test', () => `1:${randomBytes(32).toString('base64')}`),
    checkpoints: new CheckpointStore(store.db),
  };
  activities = createDeliveryActivities({ ...dependencies, delivery: { ...delivery, maxEventsPerActivity: 15 } });
  defaultActivities = createDeliveryActivities({ ...dependencies, delivery });
});

// Every test has its own tenant and destination, so logs never mix.
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
  it('sends the chunks its ranges name in seq order up to its budget, stops inside a chunk, and resumes there', async () => {
    await chunkOf(0, 1, 10);
    await chunkOf(1, 11, 10);
    await chunkOf(2, 21, 5);
    const first = await deliver([range(1, 25, 0, 2)]);
    expect(arrived()).toEqual(Array.from({ length: 15 }, (_, i) => `e${i + 1}`));
    expect(first).toMatchObject({
      settled: [{ lo: 1, hi: 10, count: 10, next: 1 }, { lo: 11, hi: 15, count: 5, next: 1 }],
      delivered: 15,
      missing: [],
    });
    // The workflow resumes in the chunk the last portion names, from the seq after it.
    const second = await deliver([range(16, 25, 1, 2)]);
    expect(arrived().slice(15)).toEqual(Array.from({ length: 10 }, (_, i) => `e${i + 16}`));
    expect(second).toMatchObject({ settled: [{ lo: 16, hi: 20, count: 5, next: 2 }, { lo: 21, hi: 25, count: 5, next: 3 }], missing: [] });
  });

  it('repeats a delivery whose completion was lost: the log still holds the chunk, sent again, never counted as dropped', async () => {
    await chunkOf(0, 1, 5);
    expect((await deliver([range(1, 5, 0, 0)])).delivered).toBe(5);
    // Temporal never heard of that attempt (its server died): the activity runs again, attempt 3.
    const again = await deliver([range(1, 5, 0, 0)], {}, 3);
    expect(again).toMatchObject({ delivered: 5, missing: [] });
    expect(arrived()).toEqual(['e1', 'e2', 'e3', 'e4', 'e5', 'e1', 'e2', 'e3', 'e4', 'e5']);
  });

  it('counts a range whose first chunk retention took as missing, whole, and sends the rest', async () => {
    await chunkOf(1, 6, 3); // chunk 0 (seqs 1..5) is gone
    const progress = await deliver([range(1, 5, 0, 0), range(6, 8, 1, 1)]);
    expect(progress.missing).toEqual([{ lo: 1, count: 5 }]);
    expect(progress).toMatchObject({ delivered: 3, settled: [{ lo: 6, hi: 8, count: 3, next: 2 }] });
    expect(arrived()).toEqual(['e6', 'e7', 'e8']);
  });

  it('sends a probe of at most 100 events while failing, even from a larger chunk', async () => {
    await chunkOf(0, 1, 300);
    receiver.respondWith(() => ({ status: 503 }));
    try {
      await expect(deliver([range(1, 300, 0, 0)], { probe: true }, 1, defaultActivities)).rejects.toThrow(/webhook answered HTTP 503/);
      expect(receiver.attempts).toBeGreaterThan(0);
    } finally {
      receiver.respondWith(() => ({ status: 200 }));
    }
    const probe = await deliver([range(1, 300, 0, 0)], { probe: true }, 1, defaultActivities);
    expect(probe).toMatchObject({ delivered: 100, settled: [{ lo: 1, hi: 100, count: 100, next: 0 }] });
    expect(arrived()).toHaveLength(100);
  });

  it('records each rejection before counting it; one that cannot be recorded fails the attempt instead of being counted', async () => {
    await chunkOf(0, 1, 4);
    // The receiver refuses e2 for good (413 alone): it is rejected, the rest delivered.
    receiver.respondWith(({ delivery }) => ({ status: delivery.events.some((event) => event.id === 'e2') ? 413 : 200 }));
    try {
      const unrecordable = createDeliveryActivities({
        ...dependencies,
        collections: { ...store.collections, rejections: { insertMany: async () => Promise.reject(new Error('the store went away')) } as never },
        delivery: loadConfig({}).delivery,
      });
      await expect(deliver([range(1, 4, 0, 0)], {}, 1, unrecordable)).rejects.toThrow('the store went away');
      const progress = await deliver([range(1, 4, 0, 0)]);
      expect(progress).toMatchObject({ delivered: 3, rejected: 1 });
      const kept = await store.collections.rejections.find({ destinationId }).toArray();
      expect(kept.map(({ eventId, reason }) => ({ eventId, reason }))).toEqual([{ eventId: 'e2', reason: expect.stringMatching(/413/) }]);
      // Delivered again by a repeated attempt: the record stays one.
      expect(await deliver([range(1, 4, 0, 0)], {}, 2)).toMatchObject({ delivered: 3, rejected: 1 });
      expect(await store.collections.rejections.countDocuments({ destinationId })).toBe(1);
    } finally {
      receiver.respondWith(() => ({ status: 200 }));
    }
  });

  it('record mirrors the state into the destination’s own document: status, counters, what it owes and settled', async () => {
    const state = { ...record, delivered: 2, status: 'degraded' as const, statusReason: 'why', pending: [range(3, 4, 1, 1, 5_000)], settled: [[1, 2]] as [number, number][], knownChunk: 1 };
    await activities.record({ destinationId, tenantId, record: state });
    expect(await destinations.deliveryState(destinationId)).toMatchObject({
      _id: destinationId, tenantId, status: 'degraded', statusReason: 'why', counters: { delivered: 2, dropped: 0, rejected: 0 },
      pending: [{ lo: 3, hi: 4, count: 2, at: new Date(5_000), firstChunk: 1, lastChunk: 1 }], settled: [{ lo: 1, hi: 2 }], knownChunk: 1,
    });
    // The configuration is another document, which the mirror never writes.
    expect(await store.collections.destinations.findOne({ _id: destinationId })).not.toHaveProperty('status');
  });

  it('checkpoint mirrors the state, the checkpoint it sends included, before sending: a refused send leaves it to be sent again, and listed', async () => {
    const stream = { ...record.stream, next: 4, sent: 3 };
    const plan = makeCheckpoint(stream, Date.now());
    receiver.respondWith(() => ({ status: 503 }));
    try {
      const sending = new MockActivityEnvironment({ attempt: 1 }, { logger: quiet }).run(activities.checkpoint, { destinationId, tenantId, record: { ...record, stream }, plan });
      await expect(sending).rejects.toMatchObject({ type: deliveryFailedType });
    } finally {
      receiver.respondWith(() => ({ status: 200 }));
    }
    expect(receiver.accepted).toHaveLength(0);
    // What a lost workflow's successor starts from: the same checkpoint, unsent.
    expect((await destinations.deliveryState(destinationId))?.stream?.unsent).toEqual(plan);
    expect((await dependencies.checkpoints.newestFirst(tenantId, destinationId, 1, 1)).map((doc) => doc._id)).toEqual([1]);
  });

  it('recovers a lost workflow: its mirror, and the chunks for it the log got after the newest it had been told about', async () => {
    await chunkOf(0, 1, 4);
    await chunkOf(1, 5, 6);
    await chunkOf(2, 11, 2);
    await chunkOf(3, 13, 2, { for: ['dst_another'] });
    await chunkOf(4, 15, 1, { at: new Date(Date.now() - 60_000) });
    // Mirrored: 4 delivered, chunk 1 owed from seq 7 on, told about chunks up to 1 only.
    await destinations.recordDelivery(deliveryStateDocOf(destinationId, tenantId, {
      ...record, status: 'degraded', statusReason: 'webhook answered HTTP 503', delivered: 6, dropped: 1, failingSince: 1_000,
      pending: [{ lo: 7, hi: 10, count: 4, at: 2_000, firstChunk: 1, lastChunk: 1 }], settled: [[1, 6]], knownChunk: 1,
    }));
    const { state }: Awaited<ReturnType<DeliveryActivities['recover']>> = await new MockActivityEnvironment({}, { logger: quiet }).run(activities.recover, { destinationId, tenantId });
    expect(state).toMatchObject({ status: 'degraded', counts: { delivered: 6, dropped: 1, rejected: 0 }, failingSince: 1_000, settled: [[1, 6]], knownChunk: 4 });
    expect(state.pending.map(({ lo, hi, count, firstChunk, lastChunk }) => [lo, hi, count, firstChunk, lastChunk])).toEqual([[7, 12, 6, 1, 2], [15, 15, 1, 4, 4]]);
  });
});
