// The benchmark scenarios of `npm run bench`. Each returns rows of figures; run.ts prints
// them as tables and writes them as JSON.
import { create } from '@bufbuild/protobuf';
import { Agent, request } from 'undici';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditEventSchema } from '../src/gen/auditstream/v1/events_pb.js';
import type { AuditEvent } from '../src/model.js';
import { IdIndexer } from '../src/ingest/id-indexer.js';
import { AuditLog } from '../src/store/audit-log.js';
import { loadConfig } from '../src/config.js';
import { encodeCursor, parseEventFilter } from '../src/api/validate.js';
import { buildWebhookRequest } from '../src/providers/webhook/request.js';
import { encodeWebhookEvent } from '../src/providers/webhook/encode.js';
import { historyEventCount, percentile, publishAtRate, round, type BenchStack } from './harness.js';
import { startBenchReceiver, type BenchReceiver } from './receiver.js';
import { join } from 'node:path';
import { freePort } from '../src/stack/processes.js';
import { startServiceProcess, type ServiceProcess } from '../test/support/service-process.js';

const event = (id: string) => create(AuditEventSchema, { id, action: 'user.login', outcome: 'success', actor: { id: 'u-1', ip: '203.0.113.9' } });

async function tenantWith(bench: BenchStack, destinations: number) {
  const tenantId = `bench-${randomUUID().slice(0, 8)}`;
  const key = await bench.issueKey(tenantId);
  const targets = [];
  for (let i = 0; i < destinations; i++) targets.push(await bench.addWebhook(key));
  return { tenantId, key, client: bench.events(key), targets };
}

/** 1. Ingest: unary PublishEvent from 64 concurrent callers, and PublishEvents of 500. */
export async function ingest(bench: BenchStack, seconds = 10) {
  const rows = [];
  const unary = await tenantWith(bench, 1);
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let count = 0;
  let cpu = bench.cpuMeter();
  await Promise.all(
    Array.from({ length: 64 }, async (_, caller) => {
      for (let i = 0; performance.now() < deadline; i++) {
        const start = performance.now();
        await unary.client.publishEvent({ event: event(`u-${caller}-${i}`) });
        latencies.push(performance.now() - start);
        count++;
      }
    }),
  );
  rows.push({ call: 'PublishEvent ×64 concurrent', 'events/s': round(count / seconds), 'p50 ms': round(percentile(latencies, 50), 1), 'p99 ms': round(percentile(latencies, 99), 1), 'CPU (of 200%)': cpu() });
  // Each scenario leaves the pipeline idle for the next: wait for this backlog to be delivered.
  await unary.targets[0].receiver.waitFor(count, 600_000);

  const batched = await tenantWith(bench, 1);
  const batchLatencies: number[] = [];
  const batchDeadline = performance.now() + seconds * 1000;
  let batchCount = 0;
  cpu = bench.cpuMeter();
  await Promise.all(
    Array.from({ length: 4 }, async (_, caller) => {
      for (let i = 0; performance.now() < batchDeadline; i++) {
        const start = performance.now();
        await batched.client.publishEvents({ events: Array.from({ length: 500 }, (_, j) => event(`b-${caller}-${i}-${j}`)) });
        batchLatencies.push(performance.now() - start);
        batchCount += 500;
      }
    }),
  );
  rows.push({ call: 'PublishEvents of 500 ×4', 'events/s': round(batchCount / seconds), 'p50 ms': round(percentile(batchLatencies, 50), 1), 'p99 ms': round(percentile(batchLatencies, 99), 1), 'CPU (of 200%)': cpu() });
  await batched.targets[0].receiver.waitFor(batchCount, 600_000);
  return rows;
}

/** Publishes at a steady rate in 10 ms ticks and measures publish-to-arrival at every destination. */
async function steadyRun(bench: BenchStack, destinations: number, rate: number, seconds: number) {
  const t = await tenantWith(bench, destinations);
  const sentAt = new Map<string, number>();
  const perTick = Math.max(1, Math.round(rate / 100));
  const ticks = Math.round((rate * seconds) / perTick);
  const cpu = bench.cpuMeter();
  const start = performance.now();
  await publishAtRate(ticks / seconds, seconds, async (tick) => {
    const ids = Array.from({ length: perTick }, (_, j) => `s-${tick}-${j}`);
    const now = performance.now();
    ids.forEach((id) => sentAt.set(id, now));
    await t.client.publishEvents({ events: ids.map(event) });
  });
  const total = sentAt.size;
  try {
    await Promise.all(t.targets.map(({ receiver }) => receiver.waitFor(total, 180_000)));
  } catch (error) {
    for (const { id, receiver } of t.targets) {
      const status = await bench.temporal.workflow.getHandle(`destination-${id}`).query('status');
      console.error(`destination ${id}: received ${receiver.firstArrival.size}/${total}, workflow ${JSON.stringify(status)}`);
    }
    throw error;
  }
  const cpuShare = cpu();
  const latencies: number[] = [];
  let lastArrival = 0;
  for (const { receiver } of t.targets) {
    for (const [id, at] of receiver.firstArrival) {
      latencies.push(at - sentAt.get(id)!);
      lastArrival = Math.max(lastArrival, at);
    }
  }
  await sleep(500);
  let history = 0;
  for (const { id } of t.targets) history += await historyEventCount(bench.temporal, `destination-${id}`);
  return {
    destinations,
    'publish/s': rate,
    events: total,
    'delivered/s per dest': round(total / ((lastArrival - start) / 1000)),
    'p50 ms': round(percentile(latencies, 50)),
    'p99 ms': round(percentile(latencies, 99)),
    'max ms': round(latencies.reduce((max, value) => Math.max(max, value), 0)),
    'history events per 1,000': round((history / (total * destinations)) * 1000, 1),
    'CPU (of 200%)': cpuShare,
  };
}

/**
 * 2 and 3. End to end at stepped rates to 1, 3 and 10 destinations, with Temporal cost.
 * (10 destinations at 5,000 events/s is 500,000 deliveries per step: left out of the default run.)
 */
export async function endToEnd(
  bench: BenchStack,
  steps: [destinations: number, rate: number][] = [[1, 100], [1, 1_000], [1, 5_000], [3, 100], [3, 1_000], [3, 5_000], [10, 100], [10, 1_000]],
  seconds = 10,
) {
  const rows = [];
  for (const [destinations, rate] of steps) {
    rows.push(await steadyRun(bench, destinations, rate, seconds));
    console.log(JSON.stringify(rows[rows.length - 1]));
  }
  return rows;
}

/** The highest rate the pipeline sustains: publish as fast as PublishEvents allows, measure delivery. */
export async function sustained(bench: BenchStack, destinationCounts = [1, 3], seconds = 15) {
  const rows = [];
  for (const destinations of destinationCounts) {
    const t = await tenantWith(bench, destinations);
    const cpu = bench.cpuMeter();
    const start = performance.now();
    let published = 0;
    const deadline = start + seconds * 1000;
    await Promise.all(
      Array.from({ length: 4 }, async (_, caller) => {
        for (let i = 0; performance.now() < deadline; i++) {
          await t.client.publishEvents({ events: Array.from({ length: 500 }, (_, j) => event(`x-${caller}-${i}-${j}`)) });
          published += 500;
        }
      }),
    );
    const publishSeconds = (performance.now() - start) / 1000;
    await Promise.all(t.targets.map(({ receiver }) => receiver.waitFor(published, 300_000)));
    const deliverySeconds = (performance.now() - start) / 1000;
    rows.push({
      destinations,
      published,
      'publish/s': round(published / publishSeconds),
      'delivered/s per dest (sustained)': round(published / deliverySeconds),
      'CPU (of 200%)': cpu(),
    });
    console.log(JSON.stringify(rows[rows.length - 1]));
  }
  return rows;
}

/**
 * More processes on this machine: the sustained run to 3 destinations with 1 or 2 API
 * processes (the 4 callers spread over them; the second forwards what it is sent to the
 * leader) and 1 or 2 workers, the extra processes started beside the bench stack's own.
 */
export async function scaleOut(bench: BenchStack, seconds = 15) {
  const rows = [];
  for (const [apis, workers] of [[1, 1], [1, 2], [2, 1], [2, 2]] as const) {
    const extra: ServiceProcess[] = [];
    try {
      for (let n = 2; n <= apis; n++) {
        const ports = { AUDITSTREAM_HTTP_PORT: String(await freePort()), AUDITSTREAM_GRPC_PORT: String(await freePort()) };
        extra.push(await startServiceProcess({ ...bench.serviceEnv, ...ports, AUDITSTREAM_ROLE: 'api' }, join(bench.dir, `api-${n}.log`)));
      }
      for (let n = 2; n <= workers; n++) {
        extra.push(await startServiceProcess({ ...bench.serviceEnv, AUDITSTREAM_ROLE: 'worker', AUDITSTREAM_LOG_LEVEL: 'info' }, join(bench.dir, `worker-${n}.log`)));
      }
      const t = await tenantWith(bench, 3);
      const apiUrls = [bench.service.grpcUrl, ...extra.filter((_, i) => i < apis - 1).map((process) => process.grpcUrl)];
      const clients = apiUrls.map((url) => bench.events(t.key, url));
      const start = performance.now();
      let published = 0;
      const deadline = start + seconds * 1000;
      await Promise.all(
        Array.from({ length: 4 }, async (_, caller) => {
          const client = clients[caller % clients.length];
          for (let i = 0; performance.now() < deadline; i++) {
            await client.publishEvents({ events: Array.from({ length: 500 }, (_, j) => event(`x-${caller}-${i}-${j}`)) });
            published += 500;
          }
        }),
      );
      const publishSeconds = (performance.now() - start) / 1000;
      await Promise.all(t.targets.map(({ receiver }) => receiver.waitFor(published, 300_000)));
      const deliverySeconds = (performance.now() - start) / 1000;
      rows.push({
        'API processes': apis,
        workers,
        destinations: 3,
        published,
        'publish/s': round(published / publishSeconds),
        'delivered/s per dest (sustained)': round(published / deliverySeconds),
      });
      console.log(JSON.stringify(rows[rows.length - 1]));
    } finally {
      await Promise.all(extra.map((process) => process.stop()));
    }
  }
  return rows;
}

/** 4. Backlog: receivers down while N events are published, then up. */
export async function backlog(bench: BenchStack, sizes = [100_000, 1_000_000]) {
  const rows = [];
  for (const size of sizes) {
    const t = await tenantWith(bench, 1);
    const { receiver, id } = t.targets[0];
    receiver.up = false;
    const rssBefore = bench.rssMiB();
    const rssPeak = { ...rssBefore };
    const sampler = setInterval(() => {
      const now = bench.rssMiB();
      rssPeak.api = Math.max(rssPeak.api, now.api);
      rssPeak.worker = Math.max(rssPeak.worker, now.worker);
    }, 250);
    const start = performance.now();
    let published = 0;
    await Promise.all(
      Array.from({ length: 4 }, async (_, caller) => {
        while (published < size) {
          const n = Math.min(500, size - published);
          published += n;
          await t.client.publishEvents({ events: Array.from({ length: n }, (_, j) => event(`bl-${caller}-${published}-${j}`)) });
        }
      }),
    );
    const publishRate = size / ((performance.now() - start) / 1000);
    const rssDuringOutage = bench.rssMiB();
    receiver.up = true;
    // The customer fixes their receiver and updates the destination: delivery resumes at once.
    await fetch(`${bench.service.httpUrl}/v1/audit/siem/${id}`, { method: 'PATCH', headers: { authorization: `Bearer ${t.key}` }, body: '{}' });
    const drainCpu = bench.cpuMeter();
    const drainStart = performance.now();
    await receiver.waitFor(size, 900_000);
    const drainSeconds = (performance.now() - drainStart) / 1000;
    const drainCpuShare = drainCpu();
    clearInterval(sampler);
    await sleep(2_000);
    const rssAfter = bench.rssMiB();
    rows.push({
      events: size,
      'publish/s': round(publishRate),
      'drain s': round(drainSeconds, 1),
      'drain/s': round(size / drainSeconds),
      'drain ÷ publish': round(size / drainSeconds / publishRate, 2),
      'API RSS before / outage / peak / after MiB': [rssBefore.api, rssDuringOutage.api, rssPeak.api, rssAfter.api].map((v) => round(v)).join(' / '),
      'worker RSS before / outage / peak / after MiB': [rssBefore.worker, rssDuringOutage.worker, rssPeak.worker, rssAfter.worker].map((v) => round(v)).join(' / '),
      'CPU while draining (of 200%)': drainCpuShare,
    });
    console.log(JSON.stringify(rows[rows.length - 1]));
  }
  return rows;
}

/**
 * 5. Baselines in the same run: a direct forwarder (the same events, signed batches of 500,
 * the same receivers, straight from memory, no durability) and the store's raw insert rate.
 */
export async function baseline(bench: BenchStack, events = 100_000) {
  const rows = [];
  const agent = new Agent({ connect: { ca: readFileSync(bench.pki.caFile) }, keepAliveTimeout: 30_000 });
  const now = new Date();
  const all: AuditEvent[] = Array.from({ length: events }, (_, i) => ({
    id: `base-${i}`, occurredAt: now, receivedAt: now, action: 'user.login', outcome: 'success', actor: { id: 'u-1', ip: '203.0.113.9' },
  }));
  for (const destinations of [1, 3]) {
    const receivers: BenchReceiver[] = [];
    for (let i = 0; i < destinations; i++) receivers.push(await startBenchReceiver(bench.pki, 'bench-secret'));
    const start = performance.now();
    await Promise.all(
      receivers.map(async (receiver) => {
        const target = { id: 'baseline', tenantId: 't', provider: 'webhook' as const, endpoint: receiver.url, settings: {}, credentials: { secret: 'bench-secret' } };
        for (let i = 0; i < all.length; i += 500) {
          const req = buildWebhookRequest(all.slice(i, i + 500).map((event) => encodeWebhookEvent(event, target)), target, new Date());
          const response = await request(req.url, { method: 'POST', headers: req.headers, body: req.body, dispatcher: agent });
          await response.body.dump();
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    rows.push({ baseline: `direct forwarder → ${destinations} receiver(s)`, 'events/s per dest': round(events / seconds) });
    await Promise.all(receivers.map((r) => r.close()));
  }
  const collection = bench.mongo.db('bench_raw').collection('events');
  const docs = all.map((e, i) => ({ ...e, _id: `raw:${e.id}`, tenantId: 'raw', seq: i, batchId: 'raw:1' }));
  const start = performance.now();
  for (let i = 0; i < docs.length; i += 500) await collection.insertMany(docs.slice(i, i + 500) as never[]);
  rows.push({ baseline: 'raw insertMany of 500 (FerretDB)', 'events/s per dest': round(events / ((performance.now() - start) / 1000)) });
  await bench.mongo.db('bench_raw').dropDatabase();
  await agent.close();
  return rows;
}

/**
 * What each kind of operation costs on the default store (FerretDB 1.24 on SQLite), the table
 * the store is designed by (docs/store.md): inserts; a find by exact `_id` of the first and of
 * the last document of a collection (FerretDB scans in insertion order until it meets it); a
 * find by any other field (every document decoded); dropping a collection. On 100,000 small
 * documents (an id registry) and on 1,000 chunk-sized ones (a full log partition).
 */
export async function storeCosts(bench: BenchStack) {
  const db = bench.mongo.db('bench_costs');
  const time = async (times: number, op: (i: number) => Promise<unknown>) => {
    const start = performance.now();
    for (let i = 0; i < times; i++) await op(i);
    return round((performance.now() - start) / times, 2);
  };
  const small = db.collection<{ _id: string; c: number }>('small');
  const insertMs = await time(200, (i) => small.insertMany(Array.from({ length: 500 }, (_, j) => ({ _id: `id-${i * 500 + j}`, c: i }))));
  const big = db.collection<{ _id: string; payload: string; c: number }>('chunks');
  const payload = 'x'.repeat(12_000); // a compressed chunk of 500 events is about 12 KB
  for (let i = 0; i < 1_000; i += 100) await big.insertMany(Array.from({ length: 100 }, (_, j) => ({ _id: String(i + j), payload, c: i + j })));
  const rows = [
    { operation: 'insertMany of 500 small documents', documents: '100,000 after', 'ms per call': insertMs },
    { operation: 'find by _id: the first document', documents: '100,000 small', 'ms per call': await time(20, () => small.findOne({ _id: 'id-0' })) },
    { operation: 'find by _id: the last document', documents: '100,000 small', 'ms per call': await time(5, () => small.findOne({ _id: 'id-99999' })) },
    { operation: 'find by _id: the last document', documents: '1,000 of 12 KB', 'ms per call': await time(5, () => big.findOne({ _id: '999' })) },
    { operation: 'find by another field (one match)', documents: '100,000 small', 'ms per call': await time(3, () => small.findOne({ c: 100 })) },
    { operation: 'find by another field (one match)', documents: '1,000 of 12 KB', 'ms per call': await time(3, () => big.findOne({ c: 999 })) },
    { operation: 'deleteOne by _id: the first document', documents: '100,000 small', 'ms per call': await time(20, (i) => small.deleteOne({ _id: `id-${i}` })) },
    { operation: 'drop the collection', documents: '100,000 small', 'ms per call': await time(1, () => small.drop()) },
  ];
  await db.dropDatabase();
  return rows;
}

/**
 * The audit log on FerretDB at 100,000 and 1,000,000 events of one tenant: a page, a filtered
 * page, a page deep in the log, a rare filter read to the end, an export of every event (the
 * worker's memory sampled throughout) and a retention run deleting half — through the
 * service's API and jobs. The log is filled directly (as the publisher writes it), its older
 * half accepted 400 days ago. Run with AUDITSTREAM_BENCH_WORKER_NODE_OPTIONS=--max-old-space-size=96
 * to see the export done in a worker whose heap cannot grow with the log.
 */
export async function auditLogScale(bench: BenchStack, sizes = [100_000, 1_000_000]) {
  const rows = [];
  const db = bench.mongo.db('auditstream');
  const log = new AuditLog(db, { tenants: db.collection('tenants'), logFloors: db.collection('log_floors') } as never, loadConfig({}).auditLog);
  const api = async (key: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${bench.service.httpUrl}${path}`, { method, headers: { authorization: `Bearer ${key}` }, body: body === undefined ? undefined : JSON.stringify(body) });
    const answer = await response.json();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(answer)}`);
    return { status: response.status, body: answer };
  };
  const timed = async <T>(run: () => Promise<T>) => {
    const start = performance.now();
    const result = await run();
    return { result, ms: round(performance.now() - start) };
  };
  /** The median of five calls: one call on a busy 2-core machine says little. */
  const median = async <T>(run: () => Promise<T>) => {
    const runs = [];
    for (let i = 0; i < 5; i++) runs.push(await timed(run));
    return { result: runs[0].result, ms: runs.map((r) => r.ms).sort((a, b) => a - b)[2] };
  };
  for (const size of sizes) {
    const tenantId = `bench-audit-${size}-${randomUUID().slice(0, 6)}`;
    const key = await bench.issueKey(tenantId);
    // A legal hold keeps the hourly retention schedule off this log until the measured run. It is
    // set in the store rather than through the API, whose audit event would come before the old
    // half of the log: the log is in acceptance order, and real acceptance is never older later.
    await db.collection<{ _id: string }>('tenant_settings').insertOne({ _id: tenantId, retentionDays: 365, legalHold: true, updatedAt: new Date() } as never);
    const old = new Date(Date.now() - 400 * 86_400_000);
    const recent = new Date(Date.now() - 60_000);
    // Written as the publisher writes flushes of 500 (a busy tenant's PublishEvents calls).
    const tenants = db.collection<{ _id: string; seq: number; chunks: number; destinations: string[] }>('tenants');
    const head = await tenants.findOne({ _id: tenantId });
    const base = head?.seq ?? 0;
    const baseChunk = head?.chunks ?? 0;
    const perChunk = 500;
    // The id index, as the leading API process keeps it: told each flush once written.
    const indexer = new IdIndexer(log.ids, log, () => true);
    const fillStart = performance.now();
    for (let first = 1; first <= size; first += perChunk) {
      const n = baseChunk + (first - 1) / perChunk;
      const at = first <= size / 2 ? old : recent;
      const events: AuditEvent[] = Array.from({ length: Math.min(perChunk, size - first + 1) }, (_, i) => {
        const k = first + i;
        return { id: `a-${k}`, occurredAt: at, receivedAt: at, action: ['doc.read', 'doc.write', 'user.login'][k % 3], outcome: 'success', actor: { id: `u-${k % 10_000}` }, resource: { type: 'doc', id: `d-${k % 500}` } };
      });
      const seqs = events.map((_, i) => base + first + i);
      await log.write(tenantId, [{ n, firstSeq: seqs[0], lastSeq: seqs[seqs.length - 1], at, destinations: [], events, seqs }]);
      await log.register(tenantId, events, at);
      indexer.took(tenantId, n, n + 1, events.map((event) => event.id), events.map(() => n));
    }
    await tenants.updateOne({ _id: tenantId }, { $set: { seq: base + size, chunks: baseChunk + Math.ceil(size / perChunk) }, $setOnInsert: { destinations: [] } }, { upsert: true });
    await indexer.writeNow();
    const fillSeconds = round((performance.now() - fillStart) / 1000, 1);

    const firstPage100 = await median(() => api(key, 'GET', '/v1/audit/events?page_size=100'));
    const firstPage = await median(() => api(key, 'GET', '/v1/audit/events?page_size=1000'));
    const filtered = await median(() => api(key, 'GET', '/v1/audit/events?action=doc.write&page_size=1000'));
    // What the console's Logs page asks first: the newest 100, and the newest 100 of a search.
    const newest100 = await median(() => api(key, 'GET', '/v1/audit/events?page_size=100&newest_first=true'));
    const newestFiltered = await median(() => api(key, 'GET', '/v1/audit/events?action=doc.write&page_size=100&newest_first=true'));
    const { key: filterKey } = parseEventFilter(undefined);
    // 25 different ids spread over the log, the median of their lookups: a lookup's cost depends
    // on where its id is, and one of ten-odd milliseconds on a busy 2-core machine says little.
    const lookups = [];
    for (let i = 1; i <= 25; i++) lookups.push(await timed(() => api(key, 'GET', `/v1/audit/events/a-${Math.floor((size * i) / 26)}`)));
    const byId = { ms: lookups.map((lookup) => lookup.ms).sort((a, b) => a - b)[12] };
    const deepSeq = base + Math.floor(size * 0.75);
    const deepChunk = baseChunk + Math.floor((deepSeq - base - 1) / perChunk);
    const deep = await median(() => api(key, 'GET', `/v1/audit/events?page_size=1000&cursor=${encodeCursor({ seq: deepSeq, chunk: deepChunk }, filterKey)}`));
    const rare = await timed(async () => {
      let cursor = '';
      let calls = 0;
      let found = 0;
      for (;;) {
        const page = await api(key, 'GET', `/v1/audit/events?actor_id=u-7&page_size=1000&cursor=${cursor}`);
        calls++;
        found += page.body.events.length;
        cursor = page.body.nextCursor;
        if (!page.body.more) return { calls, found };
      }
    });

    const rssBefore = bench.rssMiB().worker;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, bench.rssMiB().worker)), 200);
    const exported = await timed(async () => {
      const created = await api(key, 'POST', '/v1/audit/exports', { format: 'ndjson', gzip: true });
      for (;;) {
        const job = (await api(key, 'GET', `/v1/audit/exports/${created.body.export.id}`)).body.export;
        if (job.state === 'ready' || job.state === 'failed') return job;
        await sleep(500);
      }
    });
    clearInterval(sampler);

    await api(key, 'PATCH', '/v1/audit/retention', { days: 365, legal_hold: false });
    const retention = await timed(async () => {
      const handle = await bench.temporal.workflow.start('retentionWorkflow', { taskQueue: 'auditstream-delivery', workflowId: `bench-retention-${randomUUID()}`, args: [{}] });
      return (await handle.result()) as { deleted: number };
    });
    rows.push({
      events: size,
      'fill s': fillSeconds,
      'first page of 100 ms': firstPage100.ms,
      'first page of 1,000 ms': firstPage.ms,
      'filtered page ms': filtered.ms,
      'newest 100 · filtered ms': `${newest100.ms} · ${newestFiltered.ms}`,
      'page at 3/4 ms': deep.ms,
      'GetEvent ms': byId.ms,
      'rare filter (100 per 1M): calls · ms': `${rare.result.calls} · ${rare.ms}`,
      'export s': round(exported.ms / 1000, 1),
      'export events': Number(exported.result.eventCount),
      'export MiB (gzip)': round(Number(exported.result.sizeBytes) / 2 ** 20, 1),
      'worker RSS before → peak MiB': `${round(rssBefore)} → ${round(rssPeak)}`,
      'worker NODE_OPTIONS': bench.workerNodeOptions ?? '—',
      'retention s (deletes half)': round(retention.ms / 1000, 1),
      deleted: retention.result.deleted,
    });
    if (firstPage.result.body.events.length !== 1000 || newest100.result.body.events[0]?.id !== `a-${size}` || exported.result.state !== 'ready') {
      throw new Error(`audit-log bench went wrong: ${JSON.stringify({ page: firstPage.result.body.events.length, newest: newest100.result.body.events[0]?.id, job: exported.result })}`);
    }
  }
  return rows;
}

/**
 * What testing drafts leaves behind in the API process: 1,000 TestDestination calls with a
 * CloudWatch draft (its SDK client and agent are the heaviest thing a test makes), each with
 * its own keys, against a loopback endpoint answering PutLogEvents; the API's resident memory
 * after every 250. A cache keeping anything per draft grows with the count; one that keeps
 * nothing stays flat once warm.
 */
export async function draftTests(bench: BenchStack, tests = 1_000) {
  const tls = { cert: readFileSync(bench.pki.certFile), key: readFileSync(bench.pki.keyFile) };
  let answered = 0;
  const server = createHttpsServer(tls, (req, res) => {
    req.resume().on('end', () => {
      answered++;
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const key = await bench.issueKey(`bench-drafts-${randomUUID()}`);
  const test = async (i: number) => {
    const response = await fetch(`${bench.service.httpUrl}/v1/audit/siem/test`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: JSON.stringify({ provider: 'cloudwatch', endpoint, access_key_id: `AKIA${String(i).padStart(16, '0')}`, secret_access_key: randomUUID(), settings: { region: 'eu-west-1', log_group: 'bench', log_stream: 'drafts' } }),
    });
    const body = await response.json();
    if (!body.ok) throw new Error(`draft test ${i} failed: ${JSON.stringify(body)}`);
  };
  const rows = [];
  const warmUp = 100;
  for (let i = 0; i < warmUp; i++) await test(-1 - i);
  await sleep(1_000);
  rows.push({ 'draft tests': `${warmUp} (warm-up)`, 'API RSS MiB': round(bench.rssMiB().api) });
  for (let done = 0; done < tests; ) {
    for (const end = done + 250; done < end; done++) await test(done);
    await sleep(1_000);
    rows.push({ 'draft tests': String(done), 'API RSS MiB': round(bench.rssMiB().api) });
  }
  server.close();
  if (answered < tests + warmUp) throw new Error(`the endpoint answered ${answered} requests for ${tests + warmUp} tests`);
  return rows;
}
