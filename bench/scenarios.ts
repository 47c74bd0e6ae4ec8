// The benchmark scenarios of `npm run bench`. Each returns rows of figures; run.ts prints
// them as tables and writes them as JSON.
import { create } from '@bufbuild/protobuf';
import { Agent, request } from 'undici';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditEventSchema } from '../src/gen/auditstream/v1/events_pb.js';
import type { AuditEvent } from '../src/model.js';
import { EventStore } from '../src/store/events.js';
import { AuditLog } from '../src/store/audit-log.js';
import { loadConfig } from '../src/config.js';
import { encodeCursor, parseEventFilter } from '../src/api/validate.js';
import type { Collections } from '../src/store/mongo.js';
import { buildWebhookRequest } from '../src/providers/webhook/request.js';
import { encodeWebhookEvent } from '../src/providers/webhook/encode.js';
import { historyEventCount, percentile, publishAtRate, round, type BenchStack } from './harness.js';
import { startBenchReceiver, type BenchReceiver } from './receiver.js';

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
          const req = buildWebhookRequest(all.slice(i, i + 500).map(encodeWebhookEvent), target, new Date());
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
 * What holds the embedded store back: FerretDB 1.24 reads every document of the buffer for
 * any query on it, so its cost follows the buffer's bytes. A 100,000-event buffer (200
 * batches of 500) with the events stored as fields (before) and as the compressed payload
 * the service stores (after): a read by `_id`, a delivery's range read, a release.
 */
export async function storeBuffer(bench: BenchStack, batches = 200, perBatch = 500) {
  const rows = [];
  const db = bench.mongo.db('bench_buffer');
  const now = new Date();
  const eventsOf = (firstSeq: number): AuditEvent[] =>
    Array.from({ length: perBatch }, (_, i) => ({
      id: `evt-${firstSeq + i}`, occurredAt: now, receivedAt: now, action: 'user.login', outcome: 'success',
      actor: { type: 'user', id: `u-${i % 97}`, name: `user ${i % 97}`, ip: '203.0.113.9', userAgent: 'Mozilla/5.0' },
      resource: { type: 'document', id: `doc-${firstSeq + i}` }, metadata: { source: 'web' },
    }));
  const header = (firstSeq: number) => ({
    _id: `t:${firstSeq}`, tenantId: 't', firstSeq, lastSeq: firstSeq + perBatch - 1, count: perBatch, destinations: ['a', 'b'], createdAt: now, pendingFor: ['a', 'b'],
  });
  const firstSeqs = Array.from({ length: batches }, (_, i) => 1 + i * perBatch);
  const time = async (times: number, op: (i: number) => Promise<unknown>) => {
    const start = performance.now();
    for (let i = 0; i < times; i++) await op(i);
    return round((performance.now() - start) / times, 1);
  };
  const pick = (i: number) => firstSeqs[(i * 37) % (batches - 10)];

  const fields = db.collection<{ _id: string; tenantId: string; firstSeq: number; pendingFor: string[]; events: AuditEvent[] }>('fields');
  for (const firstSeq of firstSeqs) await fields.insertOne({ ...header(firstSeq), events: eventsOf(firstSeq) });
  rows.push({
    layout: 'events as fields (before)',
    'read by _id ms': await time(10, (i) => fields.findOne({ _id: `t:${pick(i)}` })),
    'range read of 10 batches ms': await time(3, (i) => fields.find({ tenantId: 't', firstSeq: { $gte: pick(i), $lte: pick(i) + 10 * perBatch - 1 } }).sort({ firstSeq: 1 }).toArray()),
    'release of 10 batches ms': await time(3, (i) => fields.updateMany({ _id: { $in: firstSeqs.slice(i * 10, i * 10 + 10).map((seq) => `t:${seq}`) } }, { $pull: { pendingFor: 'a' } })),
  });

  const buffer = new EventStore({ batches: db.collection('payload') } as unknown as Collections);
  for (const firstSeq of firstSeqs) {
    await buffer.insertBatch({ ...header(firstSeq), events: eventsOf(firstSeq), seqs: eventsOf(firstSeq).map((_, i) => firstSeq + i) });
  }
  rows.push({
    layout: 'compressed payload (after)',
    'read by _id ms': await time(10, (i) => db.collection('payload').findOne({ _id: `t:${pick(i)}` as never })),
    'range read of 10 batches ms': await time(3, async () => Promise.all((await buffer.readPending('t', 'a', 10)).map((batch) => batch.decode()))),
    'release of 10 batches ms': await time(3, (i) => buffer.release('t', 'a', [[firstSeqs[i * 10], firstSeqs[i * 10 + 9] + perBatch - 1]])),
  });
  await db.dropDatabase();
  return rows;
}

/**
 * The audit log on FerretDB at 100,000 and 1,000,000 events of one tenant: a page, a filtered
 * page, a page deep in the log, a rare filter read to the end, an export of every event (the
 * worker's memory sampled throughout) and a retention run deleting half — through the
 * service's API and jobs. The log is filled directly (as the publisher writes it), half of it
 * accepted 400 days ago.
 */
export async function auditLogScale(bench: BenchStack, sizes = [100_000, 1_000_000]) {
  const rows = [];
  const db = bench.mongo.db('auditstream');
  const log = new AuditLog(db, loadConfig({}).auditLog);
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
  for (const size of sizes) {
    const tenantId = `bench-audit-${size}-${randomUUID().slice(0, 6)}`;
    const key = await bench.issueKey(tenantId);
    // A legal hold keeps the hourly retention schedule off this log until the measured run.
    await api(key, 'PATCH', '/v1/audit/retention', { legal_hold: true });
    const old = new Date(Date.now() - 400 * 86_400_000);
    const recent = new Date(Date.now() - 60_000);
    // The hold is itself an event of the log (seq 1): the filled events come after it.
    const tenants = db.collection<{ _id: string; seq: number; destinations: string[] }>('tenants');
    const base = (await tenants.findOne({ _id: tenantId }))?.seq ?? 0;
    const fillStart = performance.now();
    for (let first = 1; first <= size; first += 5_000) {
      const events: AuditEvent[] = Array.from({ length: Math.min(5_000, size - first + 1) }, (_, i) => {
        const n = first + i;
        const at = n <= size / 2 ? old : recent;
        return { id: `a-${n}`, occurredAt: at, receivedAt: at, action: ['doc.read', 'doc.write', 'user.login'][n % 3], outcome: 'success', actor: { id: `u-${n % 10_000}` }, resource: { type: 'doc', id: `d-${n % 500}` } };
      });
      const seqs = events.map((_, i) => base + first + i);
      await log.append(tenantId, events, seqs);
      await log.register(tenantId, events, seqs, events[0].receivedAt);
    }
    await tenants.updateOne({ _id: tenantId }, { $set: { seq: base + size }, $setOnInsert: { destinations: [] } }, { upsert: true });
    const fillSeconds = round((performance.now() - fillStart) / 1000, 1);

    const firstPage = await timed(() => api(key, 'GET', '/v1/audit/events?page_size=1000'));
    const filtered = await timed(() => api(key, 'GET', '/v1/audit/events?action=doc.write&page_size=1000'));
    const { key: filterKey } = parseEventFilter(undefined);
    const byId = await timed(() => api(key, 'GET', `/v1/audit/events/a-${Math.floor(size / 3)}`));
    const deep = await timed(() => api(key, 'GET', `/v1/audit/events?page_size=1000&cursor=${encodeCursor(base + Math.floor(size * 0.75), filterKey)}`));
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
      'first page ms': firstPage.ms,
      'filtered page ms': filtered.ms,
      'page at 3/4 ms': deep.ms,
      'GetEvent ms': byId.ms,
      'rare filter (100 per 1M): calls · ms': `${rare.result.calls} · ${rare.ms}`,
      'export s': round(exported.ms / 1000, 1),
      'export events': Number(exported.result.eventCount),
      'export MiB (gzip)': round(Number(exported.result.sizeBytes) / 2 ** 20, 1),
      'worker RSS before → peak MiB': `${round(rssBefore)} → ${round(rssPeak)}`,
      'retention s (deletes half)': round(retention.ms / 1000, 1),
      deleted: retention.result.deleted,
    });
    if (firstPage.result.body.events.length !== 1000 || exported.result.state !== 'ready') {
      throw new Error(`audit-log bench went wrong: ${JSON.stringify({ page: firstPage.result.body.events.length, job: exported.result })}`);
    }
  }
  return rows;
}
