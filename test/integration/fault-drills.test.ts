// Fault drills on a stack of this file's own — FerretDB and the Temporal dev server on ports
// it can restart them on, the service as an API process and a worker process. Each drill
// publishes about 300 events/s to two webhook destinations, injects one real fault
// mid-stream, and then checks, per destination, from the receiver's own count of event ids:
// acknowledged = unique received + dropped + rejected; the counters say exactly that; and
// every event's first arrival is in the order the tenant published (duplicates are allowed
// and counted).
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/model.js';
import { startFerretDb, startTemporalDevServer } from '../../src/stack/local.js';
import { freePort, type ManagedProcess } from '../../src/stack/processes.js';
import { ApiKeyStore } from '../../src/store/api-keys.js';
import { loadConfig } from '../../src/config.js';
import { AuditLog } from '../../src/store/audit-log.js';
import { stack } from '../support/clients.js';
import { startWebhookReceiver, type Reply, type WebhookReceiver } from '../support/receiver.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';
import { verifiedOnceCovered, verifierKeys } from '../support/verify.js';

const dir = join(stack.dir, `drills-${randomUUID().slice(0, 8)}`);
let ferretdb: ManagedProcess;
let temporal: ManagedProcess;
let mongoPort: number;
let temporalPort: number;
let api: ServiceProcess;
let worker: ServiceProcess;
let env: Record<string, string>;
let mongo: MongoClient;
const receivers: WebhookReceiver[] = [];

const startApi = async () => {
  api = await startServiceProcess({ ...env, AUDITSTREAM_ROLE: 'api' }, join(dir, 'api.log'));
};
const startWorker = async (extra: Record<string, string> = {}) => {
  worker = await startServiceProcess({ ...env, ...extra, AUDITSTREAM_ROLE: 'worker' }, join(dir, 'worker.log'));
};

async function call(method: string, path: string, key: string, body?: unknown, timeoutMs = 15_000, via = api): Promise<{ status: number; body: any }> {
  const response = await fetch(`${via.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs), // publishers have deadlines: an unanswered call is retried
  });
  return { status: response.status, body: await response.json().catch(() => undefined) };
}

interface Drill {
  name: string;
  tenantId: string;
  key: string;
  destinations: { id: string; receiver: WebhookReceiver }[];
  /** Ids acknowledged, in publish order. */
  acked: string[];
  /** Every id ever sent, acknowledged or not, with its place in the publish order. */
  order: Map<string, number>;
  /** Publish calls that failed: when, how long they took, what they answered. */
  failures: { at: number; ms: number; status: number; code?: string }[];
  /** Publishers run side by side, each in its own lane (`<name>-<lane>-<n>`): order holds within a lane. */
  lanes?: boolean;
}

async function newDrill(name: string, destinations = 2): Promise<Drill> {
  const keys = new ApiKeyStore({ apiKeys: mongo.db(env.MONGODB_DATABASE).collection('api_keys') } as never);
  const tenantId = `drill-${name}-${randomUUID().slice(0, 6)}`;
  const key = (await keys.issue(tenantId, name)).key;
  const drill: Drill = { name, tenantId, key, destinations: [], acked: [], order: new Map(), failures: [] };
  for (let i = 0; i < destinations; i++) {
    const secret = `secret-${randomUUID()}`;
    const receiver = await startWebhookReceiver(stack.pki, secret);
    receivers.push(receiver);
    const created = await call('POST', '/v1/audit/siem', key, { provider: 'webhook', endpoint: receiver.url, secret });
    expect(created.status).toBe(201);
    drill.destinations.push({ id: created.body.destination.id, receiver });
  }
  return drill;
}

/**
 * One caller publishing 15 events every 50 ms (about 300/s), each call after the previous one
 * answered; through the API process `via` names at each call, in `lane` when several publish.
 */
function publishUntil(drill: Drill, stop: () => boolean, options: { via?: () => ServiceProcess; lane?: string } = {}): Promise<void> {
  const prefix = options.lane ? `${drill.name}-${options.lane}` : drill.name;
  return (async () => {
    while (!stop()) {
      const started = Date.now();
      const ids = Array.from({ length: 15 }, (_, i) => `${prefix}-${drill.order.size + i}`);
      ids.forEach((id) => drill.order.set(id, drill.order.size));
      const answer = await call('POST', '/auditstream.v1.EventService/PublishEvents', drill.key, {
        events: ids.map((id) => ({ id, action: 'drill.event' })),
      }, 15_000, (options.via ?? (() => api))()).catch(() => ({ status: 0, body: undefined }));
      if (answer.status === 200) drill.acked.push(...ids);
      else drill.failures.push({ at: started, ms: Date.now() - started, status: answer.status, code: answer.body?.code });
      await sleep(Math.max(answer.status === 200 ? 0 : 100, 50 - (Date.now() - started)));
    }
  })();
}

async function until(condition: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${typeof what === 'string' ? what : what()}`);
    await sleep(50);
  }
}

/** Runs a drill: publish, inject `fault` once 300 events are in, go on until 300 more are acknowledged. */
async function runDrill(drill: Drill, fault: () => Promise<void>): Promise<void> {
  let stop = false;
  const publishing = publishUntil(drill, () => stop);
  try {
    await until(() => drill.acked.length >= 300, '300 events were acknowledged');
    await fault();
    const afterFault = drill.acked.length;
    await until(() => drill.acked.length >= afterFault + 300, 'publishing was acknowledged again after the fault', 90_000);
  } finally {
    stop = true;
    await publishing;
  }
}

/**
 * The service's own events a destination is owed: those its tenant's audit log holds about
 * the tenant's other destinations (a destination never gets events about itself), accepted
 * once it existed (after its own "created" event).
 */
async function owedServiceEvents(drill: Drill, destinationId: string): Promise<string[]> {
  const events: { id: string; resource?: { id?: string }; action: string }[] = [];
  // Events about destinations, then the hourly retention run's (a drill may run across the hour;
  // its tenant, made for it, had none before its destinations).
  for (const prefix of ['siem.destination.', 'audit.retention.']) {
    let cursor = '';
    for (;;) {
      const page = await call('GET', `/v1/audit/events?action_prefix=${prefix}&page_size=1000&cursor=${cursor}`, drill.key);
      events.push(...page.body.events);
      cursor = page.body.nextCursor;
      if (!page.body.more) break;
    }
  }
  const created = events.findIndex((event) => event.action === 'siem.destination.created' && event.resource?.id === destinationId);
  return events.slice(created + 1).filter((event) => event.resource?.id !== destinationId).map((event) => event.id);
}

/**
 * The drill's exact accounting, per destination, once delivery has settled: events owed (the
 * acknowledged ones, and the service's own events about the other destination) = unique
 * received + dropped + rejected, and the counters agree with the receiver.
 */
async function expectExactAccounting(drill: Drill, expected: { dropped?: number } = {}): Promise<void> {
  for (const { id, receiver } of drill.destinations) {
    let view: any;
    let owed: string[] = [];
    await until(
      async () => {
        const answer = await call('GET', `/v1/audit/siem/${id}`, drill.key);
        if (answer.status !== 200) throw new Error(`GET ${id} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
        view = answer.body.destination;
        owed = await owedServiceEvents(drill, id);
        const unique = new Set(receiver.allAcceptedEventIds());
        const accounted = Number(view?.counters.delivered) + Number(view?.counters.dropped) + Number(view?.counters.rejected);
        return view?.backlog.events === '0' && accounted >= drill.acked.length + owed.length && Number(view.counters.delivered) === unique.size;
      },
      () => `destination ${id} settled (last seen: ${JSON.stringify(view)}; ${new Set(receiver.allAcceptedEventIds()).size} unique ids received; ${owed.length} service events owed)`,
      120_000,
    );
    const arrivals = receiver.acceptedEventIds();
    const unique = new Set(arrivals);
    const uniqueAll = new Set(receiver.allAcceptedEventIds());
    const { delivered, dropped, rejected } = view.counters;
    const receivedAcked = drill.acked.filter((eventId) => unique.has(eventId)).length;
    const receivedService = owed.filter((eventId) => uniqueAll.has(eventId)).length;
    expect({ owed: drill.acked.length + owed.length, accounted: receivedAcked + receivedService + Number(dropped) + Number(rejected) }).toEqual({
      owed: drill.acked.length + owed.length,
      accounted: drill.acked.length + owed.length,
    });
    expect(Number(delivered)).toBe(uniqueAll.size);
    expect(Number(dropped)).toBe(expected.dropped ?? 0);
    expect(Number(rejected)).toBe(0);
    // Only published ids and the service's events owed arrive (an unacknowledged call may have been stored: at least once).
    expect([...uniqueAll].filter((eventId) => !drill.order.has(eventId) && !owed.includes(eventId))).toEqual([]);
    // Order: each event's first arrival follows the tenant's publish order (each publisher's, when several publish side by side).
    const laneOf = (eventId: string) => (drill.lanes ? eventId.replace(/-\d+$/, '') : '');
    for (const lane of new Set([...unique].filter((eventId) => drill.order.has(eventId)).map(laneOf))) {
      const firsts = [...unique].filter((eventId) => drill.order.has(eventId) && laneOf(eventId) === lane).map((eventId) => drill.order.get(eventId)!);
      const outOfOrder = firsts.filter((position, index) => index > 0 && position < firsts[index - 1]).length;
      expect(outOfOrder, `first arrivals out of publish order${lane ? ` in lane ${lane}` : ''}`).toBe(0);
    }
    // The verifier, on what the receiver stored: complete, or exactly the ranges the counters report dropped.
    const verified = await verifiedOnceCovered(receiver, id, await verifierKeys(api.httpUrl), view.counters);
    expect(verified).toMatchObject({ gaps: [], altered: [], invalidCheckpoints: [], missingCheckpoints: [], rejected: [], uncovered: 0 });
    expect(verified.verdict).toBe(Number(dropped) > 0 ? 'dropped-reported' : 'complete');
    expect(verified.dropped.reduce((sum, { lo, hi }) => sum + hi - lo + 1, 0)).toBe(Number(dropped));
    expect(verified.eventsChecked).toBe(Number(delivered));
    console.info(
      `drill ${drill.name} → ${id}: ${drill.acked.length} acknowledged, ${unique.size} received once or more, ${arrivals.length - unique.size} duplicates, ` +
        `${owed.length} service events owed (${receivedService} received), dropped ${dropped}; verifier: ${verified.verdict}, ` +
        `${verified.checkpoints.verified} checkpoints, ${verified.eventsChecked} events checked`,
    );
  }
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
    // A DELETE waits for the flush this long, plus 15 s for Temporal to answer.
    AUDITSTREAM_DELETE_FLUSH_DEADLINE: '3s',
    AUDITSTREAM_SWEEP_INTERVAL: '1s',
    AUDITSTREAM_SWEEP_STALE_AFTER: '3s',
    AUDITSTREAM_PUBLISH_RATE: '100000',
    AUDITSTREAM_PUBLISH_BURST: '100000',
    AUDITSTREAM_READ_RATE: '1000',
    AUDITSTREAM_READ_BURST: '1000',
    // A follower takes over from a leader whose beat stood still this long (the scale-out drill).
    AUDITSTREAM_INGEST_LEASE_TTL: '4s',
  };
  await startApi();
  await startWorker();
  mongo = await new MongoClient(env.MONGODB_URI).connect();
}, 180_000);

afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await mongo?.close();
  await api?.stop();
  await worker?.stop();
  await temporal?.stop();
  await ferretdb?.stop();
  if (!process.env.AUDITSTREAM_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
});

describe('fault drills', () => {
  it('SIGKILL of the API process mid-stream', async () => {
    const drill = await newDrill('api');
    await runDrill(drill, async () => {
      await api.kill();
      await startApi();
    });
    await expectExactAccounting(drill);
  }, 240_000);

  it('two API processes and two workers, publishers on both APIs: SIGKILL of the leading API and of a worker mid-stream, both restarted', async () => {
    const secondApiEnv = async () => ({ ...env, AUDITSTREAM_ROLE: 'api', AUDITSTREAM_HTTP_PORT: String(await freePort()), AUDITSTREAM_GRPC_PORT: String(await freePort()) });
    let api2 = await startServiceProcess(await secondApiEnv(), join(dir, 'api2.log'));
    const worker2 = await startServiceProcess({ ...env, AUDITSTREAM_ROLE: 'worker' }, join(dir, 'worker2.log'));
    try {
      const drill = await newDrill('scale');
      drill.lanes = true;
      let stop = false;
      const publishing = Promise.all([
        publishUntil(drill, () => stop, { via: () => api, lane: 'a' }),
        publishUntil(drill, () => stop, { via: () => api2, lane: 'b' }),
      ]);
      try {
        await until(() => drill.acked.length >= 600, '600 events were acknowledged through both APIs');
        const lease = await mongo.db(env.MONGODB_DATABASE).collection('ingest_lease').findOne({});
        const leaderIsFirst = lease?.pid === api.child.pid;
        expect(leaderIsFirst || lease?.pid === api2.child.pid, 'one of the two API processes leads').toBe(true);
        await Promise.all([(leaderIsFirst ? api : api2).kill(), worker.kill()]);
        const afterFault = drill.acked.length;
        if (leaderIsFirst) await startApi();
        else api2 = await startServiceProcess(await secondApiEnv(), join(dir, 'api2.log'));
        await startWorker();
        // Through both APIs: the follower's lane must be acknowledged too (forwarded to whichever leads now).
        const ackedAfter = (lane: string) => drill.acked.slice(afterFault).filter((eventId) => eventId.startsWith(`scale-${lane}-`)).length;
        await until(() => ackedAfter('a') >= 300 && ackedAfter('b') >= 300, 'publishing was acknowledged again through both APIs', 90_000);
      } finally {
        stop = true;
        await publishing;
      }
      await expectExactAccounting(drill);
      // Every acknowledged event is in the audit log, once.
      const db = mongo.db(env.MONGODB_DATABASE);
      const log = new AuditLog(db, { tenants: db.collection('tenants'), logFloors: db.collection('log_floors') } as never, { ...loadConfig(env).auditLog, settleMs: 0, cacheEvents: 0 });
      const stored: string[] = [];
      for await (const event of log.stream(drill.tenantId, {})) stored.push(event.id);
      expect(stored.length, 'no event is in the log twice').toBe(new Set(stored).size);
      expect(drill.acked.filter((eventId) => !stored.includes(eventId))).toEqual([]);
      console.info(`drill scale: ${drill.acked.length} acknowledged through two APIs, ${stored.length} in the log, ${drill.failures.length} calls refused (UNAVAILABLE while the lead passed)`);
    } finally {
      await Promise.all([api2.stop(), worker2.stop()]);
      // The drills after this one talk to `api`: it leads again once the lease api2 released is taken.
      await until(async () => (await mongo.db(env.MONGODB_DATABASE).collection('ingest_lease').findOne({}))?.pid === api.child.pid, 'the first API process leads again', 30_000);
    }
  }, 300_000);

  it('SIGKILL of the worker with deliveries in flight', async () => {
    const drill = await newDrill('worker');
    drill.destinations.forEach(({ receiver }) => receiver.respondWith(() => ({ status: 200, delayMs: 300 })));
    await runDrill(drill, async () => {
      await until(() => drill.destinations.every(({ receiver }) => receiver.attempts > 0), 'deliveries are in flight');
      await worker.kill();
      await startWorker();
    });
    drill.destinations.forEach(({ receiver }) => receiver.respondWith(() => ({ status: 200 })));
    await expectExactAccounting(drill);
  }, 240_000);

  it('SIGKILL of FerretDB: publishes answer UNAVAILABLE within 5 s, and everything resumes once it is back', async () => {
    const drill = await newDrill('ferretdb');
    let downAt = 0;
    let upAt = 0;
    await runDrill(drill, async () => {
      await ferretdb.kill();
      downAt = Date.now();
      await sleep(4_000);
      ferretdb = await startFerretDb(dir, mongoPort);
      upAt = Date.now();
    });
    await expectExactAccounting(drill);
    // Calls the outage caught: started while FerretDB was down, or before and still unanswered when it went.
    const duringOutage = drill.failures.filter((failure) => failure.at < upAt && failure.at + failure.ms >= downAt);
    expect(duringOutage.length).toBeGreaterThan(0);
    for (const failure of duringOutage) {
      expect(failure).toMatchObject({ status: 503, code: 'unavailable' });
      expect(failure.ms).toBeLessThan(5_000);
    }
  }, 240_000);

  it('SIGKILL of the Temporal dev server: ingestion goes on, and no delivered event is counted as dropped', async () => {
    const drill = await newDrill('temporal');
    await runDrill(drill, async () => {
      await temporal.kill();
      await sleep(3_000);
      temporal = await startTemporalDevServer(dir, temporalPort, undefined);
    });
    await expectExactAccounting(drill);
  }, 240_000);

  it('List and /readyz tell the truth through outages of Temporal, the worker and FerretDB: degraded within 15 s, naming what is down', async () => {
    const drill = await newDrill('honest');
    // Slow receivers: there is always a backlog when a part goes down.
    drill.destinations.forEach(({ receiver }) => receiver.respondWith(() => ({ status: 200, delayMs: 300 })));
    const outages: { part: string; reason: RegExp; ready: number; kill: () => Promise<void>; restart: () => Promise<void> }[] = [
      { part: 'Temporal', reason: /^delivery is paused: Temporal is unreachable/, ready: 503, kill: () => temporal.kill(), restart: async () => void (temporal = await startTemporalDevServer(dir, temporalPort, undefined)) },
      { part: 'the worker', reason: /^delivery is paused: no delivery worker is running/, ready: 200, kill: () => worker.kill(), restart: () => startWorker() },
      { part: 'FerretDB', reason: /^delivery is paused: the store \(MongoDB\) is unreachable/, ready: 503, kill: () => ferretdb.kill(), restart: async () => void (ferretdb = await startFerretDb(dir, mongoPort)) },
    ];
    for (const outage of outages) {
      const samples: { at: number; status: number; list: any[] | undefined; ready: number; readyMs: number; readyBody: any; healthy: boolean }[] = [];
      await runDrill(drill, async () => {
        const list = await call('GET', '/v1/audit/siem', drill.key); // the tenant has been read whole before the fault
        expect(list.status).toBe(200);
        const killedAt = Date.now();
        await outage.kill();
        while (Date.now() < killedAt + 20_000) {
          const started = Date.now();
          const ready = await fetch(`${api.httpUrl}/readyz`, { signal: AbortSignal.timeout(10_000) });
          const readyMs = Date.now() - started;
          const healthy = (await fetch(`${api.httpUrl}/healthz`)).status === 200;
          const answer = await call('GET', '/v1/audit/siem', drill.key).catch(() => ({ status: 0, body: undefined }));
          samples.push({ at: Date.now() - killedAt, status: answer.status, list: answer.status === 200 ? answer.body.destinations : undefined, ready: ready.status, readyMs, readyBody: await ready.json(), healthy });
          await sleep(500);
        }
        await outage.restart();
      });
      const describe = (sample: (typeof samples)[number]) => JSON.stringify({ at: sample.at, ready: sample.ready, list: sample.list?.map((d) => [d.status, d.statusReason, d.backlog.events]) });
      for (const sample of samples) {
        expect(sample.readyMs, `/readyz during the ${outage.part} outage`).toBeLessThan(2_000);
        expect(sample.healthy).toBe(true);
        // List answers throughout; in the store's first seconds, before the probes find it gone, it may say UNAVAILABLE.
        if (sample.status !== 200) expect([outage.part, sample.status, sample.at < 5_000]).toEqual(['FerretDB', 503, true]);
        else expect(sample.list, describe(sample)).toHaveLength(2);
      }
      // From 15 s after the fault to its end, every sample shows both destinations degraded, saying why, with what waits.
      const late = samples.filter((sample) => sample.at >= 15_000);
      expect(late.length).toBeGreaterThan(0);
      for (const sample of late) {
        for (const destination of sample.list!) {
          expect(destination.status, describe(sample)).toBe('degraded');
          expect(destination.statusReason).toMatch(outage.reason);
          expect(Number(destination.backlog.events)).toBeGreaterThan(0);
        }
        expect(sample.ready).toBe(outage.ready);
        expect(JSON.stringify(sample.readyBody.down)).toContain(outage.part === 'the worker' ? 'no delivery worker is running' : outage.part === 'Temporal' ? 'Temporal is unreachable' : 'the store (MongoDB) is unreachable');
      }
      console.info(`outage of ${outage.part}: first degraded sample at ${samples.find((sample) => sample.list?.every((d) => d.status === 'degraded'))?.at} ms`);
      // Once it is back, both are active again.
      await until(async () => (await call('GET', '/v1/audit/siem', drill.key)).body?.destinations?.every((d: any) => d.status === 'active'), `both destinations are active after the ${outage.part} outage`);
    }
    drill.destinations.forEach(({ receiver }) => receiver.respondWith(() => ({ status: 200 })));
    await expectExactAccounting(drill);
  }, 360_000);

  it('a DELETE while Temporal is paused answers by its deadline; repeated once it is back it completes, and one not repeated completes by itself', async () => {
    const drill = await newDrill('zombie');
    const [repeated, abandoned] = drill.destinations;
    let stop = false;
    const publishing = publishUntil(drill, () => stop);
    await until(() => drill.acked.length >= 150, '150 events were acknowledged');
    stop = true;
    await publishing;
    const pid = temporal.child.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const answers = await Promise.all(drill.destinations.map(({ id }) => call('DELETE', `/v1/audit/siem/${id}`, drill.key, undefined, 30_000)));
      // The flush deadline (3 s here) plus 15 s for Temporal, and no more.
      expect(Date.now() - started).toBeLessThan(3_000 + 15_000 + 3_000);
      for (const answer of answers) {
        expect(answer.status).toBe(503);
        expect(answer.body.message).toMatch(/is being deleted and receives no new events, but .* the deletion completes by itself once it is back, or repeat the DELETE$/);
      }
      // Gone for every other call meanwhile.
      expect((await call('GET', `/v1/audit/siem/${repeated.id}`, drill.key)).status).toBe(404);
      expect((await call('GET', '/v1/audit/siem', drill.key)).body.destinations).toEqual([]);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // Repeated once Temporal is back: it completes, with the flush's figures.
    let again: { status: number; body: any } = { status: 0, body: undefined };
    await until(async () => (again = await call('DELETE', `/v1/audit/siem/${repeated.id}`, drill.key, undefined, 30_000)).status !== 503, 'the repeated DELETE is answered');
    expect(again.status).toBe(200);
    expect(Number(again.body.flushed) + Number(again.body.dropped)).toBeLessThanOrEqual(drill.acked.length);
    expect((await call('DELETE', `/v1/audit/siem/${repeated.id}`, drill.key)).status).toBe(404);
    // Neither leaves a document or a running workflow behind; the one not repeated is finished by the API itself.
    const db = mongo.db(env.MONGODB_DATABASE);
    const temporalClient = new Client({ connection: await Connection.connect({ address: env.TEMPORAL_ADDRESS }) });
    try {
      for (const { id } of [repeated, abandoned]) {
        await until(async () => (await db.collection('destinations').countDocuments({ _id: id as never })) === 0, `destination ${id} is removed`, 90_000);
        expect(await db.collection('delivery_states').countDocuments({ _id: id as never })).toBe(0);
        // The workflow ends right after it answers the deletion.
        await until(async () => (await temporalClient.workflow.getHandle(`destination-${id}`).describe()).status.name === 'COMPLETED', `the workflow of ${id} has ended`, 10_000);
      }
    } finally {
      await temporalClient.connection.close();
    }
    // Both deletions are in the tenant's audit log: the repeated one by the caller's key, the other by the service.
    const log = new AuditLog(db, { tenants: db.collection('tenants'), logFloors: db.collection('log_floors') } as never, { ...loadConfig(env).auditLog, settleMs: 0, cacheEvents: 0 });
    const actors = new Map<string, string>();
    await until(async () => {
      for await (const event of log.stream(drill.tenantId, {})) if (event.action === 'siem.destination.deleted') actors.set(event.resource?.id ?? '', event.actor?.type ?? '');
      return actors.size === 2;
    }, 'both deletions are in the audit log');
    expect(Object.fromEntries(actors)).toEqual({ [repeated.id]: 'api_key', [abandoned.id]: 'service' });
  }, 240_000);

  it('a flapping receiver: errors, slow answers, and deliveries it kept but never answered', async () => {
    const drill = await newDrill('flapping');
    const flapping: ((attempt: number) => Reply)[] = [
      () => ({ status: 503, body: 'flap' }),
      () => ({ status: 200, dropConnection: true }),
      () => ({ status: 200, delayMs: 1_500 }),
      () => ({ status: 429, headers: { 'retry-after': '1' } }),
      () => ({ status: 200 }),
    ];
    await runDrill(drill, async () => {
      drill.destinations.forEach(({ receiver }) => receiver.respondWith(({ attempt }) => flapping[attempt % flapping.length](attempt)));
      await sleep(5_000);
      drill.destinations.forEach(({ receiver }) => receiver.respondWith(() => ({ status: 200 })));
    });
    await expectExactAccounting(drill);
  }, 240_000);

  it('finishes a flush an API crash interrupted before serving again: its events go out before later ones, registered once', async () => {
    const drill = await newDrill('orphan', 1);
    const db = mongo.db(env.MONGODB_DATABASE);
    const tenantId = (await db.collection('api_keys').findOne({ name: 'orphan' }))!.tenantId as string;
    await api.kill();
    // What an API process that died after writing a flush's chunk, before registering or announcing it, leaves behind.
    const allocated = await db.collection('tenants').findOneAndUpdate({ _id: tenantId as never }, { $inc: { seq: 3, chunks: 1 } }, { returnDocument: 'after' });
    const [lastSeq, chunk] = [allocated!.seq as number, (allocated!.chunks as number) - 1];
    const now = new Date();
    const orphans: AuditEvent[] = [1, 2, 3].map((i) => ({ id: `orphan-${i}`, occurredAt: now, receivedAt: now, action: 'drill.orphan', outcome: 'unknown' }));
    const destinations = allocated!.destinations as string[];
    await db.collection('dispatch_outbox').insertOne({
      _id: `${tenantId}:${chunk}`, tenantId, firstSeq: lastSeq - 2, lastSeq, firstChunk: chunk, lastChunk: chunk, count: 3, destinations, createdAt: now,
    } as never);
    const log = new AuditLog(db, { tenants: db.collection('tenants'), logFloors: db.collection('log_floors') } as never, loadConfig(env).auditLog);
    await log.write(tenantId, [{ n: chunk, firstSeq: lastSeq - 2, lastSeq, at: now, destinations, events: orphans, seqs: [lastSeq - 2, lastSeq - 1, lastSeq] }]);
    orphans.forEach((event) => {
      drill.order.set(event.id, drill.order.size);
      drill.acked.push(event.id);
    });
    await startApi();
    const started = Date.now();
    const answer = await call('POST', '/auditstream.v1.EventService/PublishEvents', drill.key, { events: [{ id: 'after-orphan', action: 'drill.event' }, { id: 'orphan-2', action: 'drill.orphan' }] });
    expect(answer.status).toBe(200);
    // The restarted API registered the orphans before taking publishes: a repeat of one is a duplicate.
    expect(answer.body.results).toEqual([{ id: 'after-orphan', duplicate: false }, { id: 'orphan-2', duplicate: true }]);
    drill.order.set('after-orphan', drill.order.size);
    drill.acked.push('after-orphan');
    await until(() => drill.destinations[0].receiver.acceptedEventIds().includes('after-orphan'), 'the new event arrived');
    expect(Date.now() - started).toBeLessThan(3_000); // not after the sweeper's 3 s
    expect(drill.destinations[0].receiver.acceptedEventIds()).toEqual(['orphan-1', 'orphan-2', 'orphan-3', 'after-orphan']);
    await expectExactAccounting(drill);
  }, 90_000);

  it('a worker restarted with a 6 s window applies it to a destination already failing; an outage longer than the window drops exactly what was buffered', async () => {
    const drill = await newDrill('outage', 1);
    const [{ id, receiver }] = drill.destinations;
    receiver.respondWith(() => ({ status: 503, body: 'down' }));
    let stop = false;
    const publishing = publishUntil(drill, () => stop);
    await until(() => drill.acked.length >= 150, '150 events were acknowledged');
    stop = true;
    await publishing;
    const degraded = (await call('GET', `/v1/audit/siem/${id}`, drill.key)).body.destination;
    expect(degraded.status).toBe('degraded');
    const firstFailure = Date.parse(degraded.backlog.windowEndsAt) - 10 * 60_000;

    await worker.stop();
    await startWorker({ AUDITSTREAM_RETRY_WINDOW: '6s' });
    await until(async () => {
      const view = (await call('GET', `/v1/audit/siem/${id}`, drill.key)).body.destination;
      return view.status === 'failed' || Date.parse(view.backlog.windowEndsAt) === firstFailure + 6_000;
    }, 'the window follows the restarted worker’s setting');
    await until(async () => (await call('GET', `/v1/audit/siem/${id}`, drill.key)).body.destination.status === 'failed', 'the window ran out');
    const failed = (await call('GET', `/v1/audit/siem/${id}`, drill.key)).body.destination;
    expect(failed.counters).toEqual({ delivered: '0', dropped: String(drill.acked.length), rejected: '0' });

    // Fixed and updated: it streams again; what was dropped is not sent.
    receiver.respondWith(() => ({ status: 200 }));
    expect((await call('PATCH', `/v1/audit/siem/${id}`, drill.key, { enabled: true })).body.destination.status).toBe('active');
    const droppedBefore = drill.acked.length;
    stop = false;
    const more = publishUntil(drill, () => stop);
    await until(() => drill.acked.length >= droppedBefore + 150, '150 more events were acknowledged');
    stop = true;
    await more;
    await expectExactAccounting(drill, { dropped: droppedBefore });
    expect(receiver.acceptedEventIds().filter((eventId) => drill.order.get(eventId)! < droppedBefore)).toEqual([]);
  }, 180_000);
});
