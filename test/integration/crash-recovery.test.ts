// Nothing acknowledged is lost when things die for real. This file runs its own stack
// (FerretDB and the Temporal dev server on ports it can restart them on) and the service
// as two processes, an API and a worker, which it SIGKILLs.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/model.js';
import { ApiKeyStore } from '../../src/store/api-keys.js';
import { EventStore } from '../../src/store/events.js';
import type { Collections } from '../../src/store/mongo.js';
import { freePort } from '../../src/stack/processes.js';
import { startFerretDb, startTemporalDevServer } from '../../src/stack/local.js';
import type { ManagedProcess } from '../../src/stack/processes.js';
import { stack } from '../support/clients.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/receiver.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';

const dir = join(stack.dir, `crash-${randomUUID().slice(0, 8)}`);
let ferretdb: ManagedProcess;
let temporal: ManagedProcess;
let mongoPort: number;
let temporalPort: number;
let api: ServiceProcess;
let worker: ServiceProcess;
let env: Record<string, string>;
let key: string;
let receiver: WebhookReceiver;
let mongo: MongoClient;

async function startApi() {
  api = await startServiceProcess({ ...env, AUDITSTREAM_ROLE: 'api' }, join(dir, 'api.log'));
}
async function startWorker() {
  worker = await startServiceProcess({ ...env, AUDITSTREAM_ROLE: 'worker' }, join(dir, 'worker.log'));
}

async function publish(id: string): Promise<number> {
  const response = await fetch(`${api.httpUrl}/auditstream.v1.EventService/PublishEvent`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ event: { id, action: 'crash.test' } }),
    // A client with a deadline, as real publishers have: an unanswered call is retried.
    signal: AbortSignal.timeout(15_000),
  }).catch(() => undefined);
  return response?.status ?? 0;
}

/** Publishes one event after another until `stop` says so; returns the ids acknowledged. */
async function publishUntil(prefix: string, stop: () => boolean, acked: string[]): Promise<void> {
  for (let i = 0; !stop(); i++) {
    const id = `${prefix}-${i}`;
    if ((await publish(id)) === 200) acked.push(id);
    else await sleep(100);
  }
}

/** Waits for a condition, failing with a message rather than hanging the test. */
async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

async function expectAllArrive(ids: string[], timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  let missing: string[] = ids;
  while (Date.now() < deadline) {
    const got = new Set(receiver.acceptedEventIds());
    missing = ids.filter((id) => !got.has(id));
    if (missing.length === 0) return;
    await sleep(250);
  }
  throw new Error(`${missing.length} of ${ids.length} acknowledged events never arrived, e.g. ${missing.slice(0, 5).join(', ')}`);
}

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  mongoPort = await freePort();
  temporalPort = await freePort();
  ferretdb = await startFerretDb(dir, mongoPort);
  temporal = await startTemporalDevServer(dir, temporalPort, undefined);
  env = {
    ...stack.serviceEnv,
    MONGODB_URI: `mongodb://127.0.0.1:${mongoPort}/`,
    TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
    AUDITSTREAM_HTTP_PORT: String(await freePort()),
    AUDITSTREAM_GRPC_PORT: String(await freePort()),
    AUDITSTREAM_DATA_DIR: join(dir, 'service'),
    AUDITSTREAM_RETRY_WINDOW: '10m',
    AUDITSTREAM_SWEEP_INTERVAL: '1s',
    AUDITSTREAM_SWEEP_STALE_AFTER: '3s',
  };
  await startApi();
  await startWorker();
  mongo = await new MongoClient(env.MONGODB_URI).connect();
  const keys = new ApiKeyStore({ apiKeys: mongo.db(env.MONGODB_DATABASE).collection('api_keys') } as never);
  key = (await keys.issue('crash-tenant', 'crash test')).key;
  receiver = await startWebhookReceiver(stack.pki, 'crash-secret');
  const created = await fetch(`${api.httpUrl}/v1/audit/siem`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
    body: JSON.stringify({ provider: 'webhook', endpoint: receiver.url, secret: 'crash-secret' }),
  });
  expect(created.status).toBe(201);
}, 180_000);

afterAll(async () => {
  await receiver?.close();
  await mongo?.close();
  await api?.stop();
  await worker?.stop();
  await temporal?.stop();
  await ferretdb?.stop();
  if (!process.env.AUDITSTREAM_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
});

describe('crash recovery', () => {
  it('redelivers what a worker killed mid-delivery had in flight', async () => {
    receiver.respondWith(() => ({ status: 200, delayMs: 1_500 }));
    const ids = Array.from({ length: 20 }, (_, i) => `worker-kill-${i}`);
    for (const id of ids) expect(await publish(id)).toBe(200);
    await until(() => receiver.attempts > 0, 'a delivery reached the receiver');
    await worker.kill();
    receiver.respondWith(() => ({ status: 200 }));
    await startWorker();
    await expectAllArrive(ids);
  }, 120_000);

  it('delivers every event an API process acknowledged before it was killed', async () => {
    const acked: string[] = [];
    let stop = false;
    const publishing = publishUntil('api-kill', () => stop, acked);
    await until(() => acked.length >= 30, '30 publishes were acknowledged');
    await api.kill();
    stop = true;
    await publishing;
    await startApi();
    await expectAllArrive(acked);
  }, 120_000);

  it('announces a batch whose announcement was interrupted (the outbox sweeper)', async () => {
    const db = mongo.db(env.MONGODB_DATABASE);
    const tenant = await db.collection('tenants').findOne({ _id: 'crash-tenant' as never });
    const seq = (tenant!.seq as number) + 1;
    await db.collection('tenants').updateOne({ _id: 'crash-tenant' as never }, { $inc: { seq: 1 } });
    const now = new Date(Date.now() - 10_000);
    const entry = { _id: `crash-tenant:${seq}`, tenantId: 'crash-tenant', firstSeq: seq, lastSeq: seq, count: 1, destinations: tenant!.destinations, createdAt: now };
    const event: AuditEvent = { id: 'orphan-1', occurredAt: now, receivedAt: now, action: 'crash.orphan', outcome: 'unknown' };
    // What a process that died right after writing the batch leaves behind.
    await db.collection('events').insertOne({ ...event, _id: `crash-tenant:orphan-1` as never, tenantId: 'crash-tenant', seq, batchId: entry._id });
    await db.collection('dispatch_outbox').insertOne(entry as never);
    const buffer = new EventStore({ batches: db.collection('batches') } as unknown as Collections);
    await buffer.insertBatch({ ...entry, events: [event], seqs: [seq], pendingFor: tenant!.destinations });
    await expectAllArrive(['orphan-1'], 30_000);
    // Once every destination was told, the entry goes (confirmed entries are removed together).
    for (let i = 0; i < 50 && (await db.collection('dispatch_outbox').countDocuments({ _id: entry._id as never })) > 0; i++) await sleep(100);
    expect(await db.collection('dispatch_outbox').countDocuments({ _id: entry._id as never })).toBe(0);
  }, 60_000);

  it('keeps accepting events while the Temporal server restarts, and delivers them all', async () => {
    const acked: string[] = [];
    let stop = false;
    const publishing = publishUntil('temporal-restart', () => stop, acked);
    await until(() => acked.length >= 10, '10 publishes were acknowledged');
    await temporal.stop();
    const whileDown = acked.length;
    await sleep(3_000);
    expect(acked.length).toBeGreaterThan(whileDown); // ingestion did not stop with Temporal
    temporal = await startTemporalDevServer(dir, temporalPort, undefined);
    await sleep(1_000);
    stop = true;
    await publishing;
    await expectAllArrive(acked);
  }, 180_000);

  it('delivers every acknowledged event after FerretDB restarts', async () => {
    const acked: string[] = [];
    let stop = false;
    const publishing = publishUntil('ferret-restart', () => stop, acked);
    await until(() => acked.length >= 10, '10 publishes were acknowledged');
    await ferretdb.stop();
    await sleep(2_000);
    ferretdb = await startFerretDb(dir, mongoPort);
    const afterRestart = acked.length;
    await until(() => acked.length >= afterRestart + 10, 'publishing was acknowledged again after FerretDB restarted');
    stop = true;
    await publishing;
    await expectAllArrive(acked);
  }, 180_000);
});
