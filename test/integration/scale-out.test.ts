// Many API processes on one store (src/ingest/lease.ts, src/api/forward.ts): the suite's
// service leads; another API process follows, forwarding what writes and answering reads
// itself. With publishers on both, every acknowledged event is in the audit log exactly once,
// a retry that lands on the other process is a duplicate, and a reader's cursor never skips
// an event. The lease itself: a holder whose lease is taken over stops; a follower takes over
// an abandoned lease (at once when its holder was a process of this machine that is gone).
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/stack/processes.js';
import { ApiKeyStore } from '../../src/store/api-keys.js';
import { eventually, grpcClient, stack, storedEventsOf } from '../support/clients.js';
import { startWebhookReceiver } from '../support/receiver.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';
import { tenantsOfThisFile } from '../support/tenant.js';

const newTenant = tenantsOfThisFile();
const started: ServiceProcess[] = [];
const mongo = new MongoClient(stack.mongodbUri, { maxPoolSize: 2 });
afterAll(async () => {
  await Promise.all(started.map((service) => service.stop()));
  await mongo.close();
});

/** The suite's service environment on ports of its own: another process against the same stack. */
async function anotherApi(extra: Record<string, string> = {}): Promise<{ env: Record<string, string>; log: string }> {
  const env = {
    ...stack.serviceEnv,
    AUDITSTREAM_ROLE: 'api',
    AUDITSTREAM_HTTP_PORT: String(await freePort()),
    AUDITSTREAM_GRPC_PORT: String(await freePort()),
    ...extra,
  };
  return { env, log: join(stack.dir, `api-${randomUUID().slice(0, 8)}.log`) };
}

/** A pid no process of this machine has: one that just ended. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

async function call(base: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

const publish = (base: string, key: string, ids: string[]) =>
  call(base, key, 'POST', '/auditstream.v1.EventService/PublishEvents', { events: ids.map((id) => ({ id, action: 'scale.event' })) });

describe('a second API process on the same store', () => {
  let follower: ServiceProcess;
  beforeAll(async () => {
    const api = await anotherApi();
    follower = await startServiceProcess(api.env, api.log);
    started.push(follower);
  }, 120_000);

  it('follows the leader: what it is sent to write is written by the leader, what it is asked to read it answers', async () => {
    const tenant = await newTenant();
    const published = await publish(follower.httpUrl, tenant.key, ['via-follower-1', 'via-follower-2']);
    expect(published).toEqual({ status: 200, body: { results: [{ id: 'via-follower-1', duplicate: false }, { id: 'via-follower-2', duplicate: false }] } });
    // Read back by id on the follower: the leader keeps the id index, any process reads it.
    const byId = await eventually(() => call(follower.httpUrl, tenant.key, 'GET', '/v1/audit/events/via-follower-2'), (answer) => answer.status === 200, 10_000);
    expect(byId.body.event).toMatchObject({ id: 'via-follower-2', action: 'scale.event' });
    // Over gRPC too (h2c, as internal services publish), and a repeat is a duplicate there as well.
    const grpc = grpcClient('EventService', tenant.key, follower.grpcUrl);
    try {
      const answer = await grpc.call<{ results: { id: string; duplicate?: boolean }[] }>('PublishEvents', { events: [{ id: 'via-follower-grpc', action: 'scale.event' }, { id: 'via-follower-1', action: 'scale.event' }] });
      expect(answer.results.map(({ id, duplicate }) => ({ id, duplicate: duplicate ?? false }))).toEqual([{ id: 'via-follower-grpc', duplicate: false }, { id: 'via-follower-1', duplicate: true }]);
    } finally {
      grpc.close();
    }
    // A destination made through the follower, changed through the leader, read through both.
    const secret = `secret-${randomUUID()}`;
    const receiver = await startWebhookReceiver(stack.pki, secret);
    tenant.receivers.push(receiver);
    const created = await call(follower.httpUrl, tenant.key, 'POST', '/v1/audit/siem', { provider: 'webhook', endpoint: receiver.url, secret, name: 'made on the follower' });
    expect(created.status).toBe(201);
    const id = created.body.destination.id as string;
    expect((await call(stack.httpUrl, tenant.key, 'PATCH', `/v1/audit/siem/${id}`, { name: 'renamed on the leader' })).status).toBe(200);
    expect((await call(follower.httpUrl, tenant.key, 'GET', `/v1/audit/siem/${id}`)).body.destination.name).toBe('renamed on the leader');
    // Bad input is refused as the leader refuses it, with the same status and words.
    const refused = await call(follower.httpUrl, tenant.key, 'PATCH', `/v1/audit/siem/${id}`, { endpoint: 'http://plain.example' });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('invalid_argument');
    expect(refused.body.message).toMatch(/https/);
    // Forwarding grants nothing: a bad key is refused on the follower as anywhere.
    expect((await call(follower.httpUrl, 'ask_not-a-key', 'POST', '/v1/audit/siem', {})).status).toBe(401);
    // Events published through the follower reach the destination made through it.
    await publish(follower.httpUrl, tenant.key, ['after-create']);
    await receiver.waitForEvents(1);
    expect(receiver.acceptedEventIds()).toContain('after-create');
  }, 60_000);

  it('answers a retry that lands on the other process as a duplicate, and keeps each acknowledged event once, however the calls interleave', async () => {
    const tenant = await newTenant();
    const batch = (name: string) => Array.from({ length: 200 }, (_, i) => `${name}-${i}`);
    // A retry on the other process, after the first call was answered.
    expect((await publish(stack.httpUrl, tenant.key, batch('a'))).status).toBe(200);
    const retried = await publish(follower.httpUrl, tenant.key, batch('a'));
    expect(retried.status).toBe(200);
    expect(retried.body.results.every((result: { duplicate?: boolean }) => result.duplicate === true)).toBe(true);
    // The same batch on both processes at once (a client's timeout and retry racing the first call).
    const [one, two] = await Promise.all([publish(stack.httpUrl, tenant.key, batch('b')), publish(follower.httpUrl, tenant.key, batch('b'))]);
    expect([one.status, two.status]).toEqual([200, 200]);
    const firsts = [...one.body.results, ...two.body.results].filter((result: { duplicate?: boolean }) => !result.duplicate).map((result: { id: string }) => result.id);
    expect(firsts.sort()).toEqual(batch('b').sort());
    const stored = (await storedEventsOf(tenant.id)).map((event) => event.id);
    expect(stored.filter((id) => id.startsWith('a-') || id.startsWith('b-')).sort()).toEqual([...batch('a'), ...batch('b')].sort());
  }, 60_000);

  it('never lets a reader skip an event while both processes take publishes', async () => {
    const tenant = await newTenant();
    const acknowledged: string[] = [];
    let publishing = true;
    const publisher = async (base: string, lane: string) => {
      for (let call = 0; call < 40; call++) {
        const ids = Array.from({ length: 25 }, (_, i) => `${lane}-${call}-${i}`);
        const answer = await publish(base, tenant.key, ids);
        expect(answer.status).toBe(200);
        acknowledged.push(...ids);
      }
    };
    const read: string[] = [];
    let readUntil = Infinity;
    const reader = (async () => {
      let cursor = '';
      while (Date.now() < readUntil) {
        const still = publishing;
        const page = await call(follower.httpUrl, tenant.key, 'GET', `/v1/audit/events?page_size=100&cursor=${cursor}`);
        expect(page.status).toBe(200);
        read.push(...page.body.events.map((event: { id: string }) => event.id));
        cursor = page.body.nextCursor;
        // Once publishing has ended and the newest flush has settled, a page with nothing more is the end.
        if (!still && !page.body.more && read.length >= acknowledged.length) break;
        if (!page.body.more) await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    await Promise.all([publisher(stack.httpUrl, 'leader'), publisher(follower.httpUrl, 'follower')]);
    publishing = false;
    readUntil = Date.now() + 30_000; // the newest flush settles within seconds; a skipped event never shows
    await reader;
    // Each acknowledged event read once, and each publisher's events in the order it published them.
    expect([...read].sort()).toEqual([...acknowledged].sort());
    for (const lane of ['leader', 'follower']) {
      expect(read.filter((id) => id.startsWith(`${lane}-`))).toEqual(acknowledged.filter((id) => id.startsWith(`${lane}-`)));
    }
  }, 120_000);
});

describe('the ingest lease', () => {
  it('a follower whose leader does not answer refuses what writes with UNAVAILABLE, naming the leader, and still answers reads', async () => {
    const database = `lease_${randomUUID().slice(0, 8)}`;
    const leases = mongo.db(database).collection('ingest_lease');
    // A leader on another machine, beating (as far as this follower can tell for the next 10 minutes), at an address nothing answers.
    const port = await freePort();
    await leases.insertOne({ _id: 'ingest' as never, holder: 'far', host: 'elsewhere', pid: 4242, url: `http://127.0.0.1:${port}`, startedAt: new Date(), beat: 1, beatAt: new Date() });
    const api = await anotherApi({ MONGODB_DATABASE: database, AUDITSTREAM_INGEST_LEASE_TTL: '10m' });
    const follower = await startServiceProcess(api.env, api.log);
    started.push(follower);
    const key = (await new ApiKeyStore({ apiKeys: mongo.db(database).collection('api_keys') } as never).issue('far-tenant', 'test')).key;
    const refused = await publish(follower.httpUrl, key, ['never-acknowledged']);
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('unavailable');
    expect(refused.body.message).toContain('the API process that writes to this store (pid 4242 on elsewhere');
    expect(refused.body.message).toContain('retry the call');
    expect((await call(follower.httpUrl, key, 'GET', '/v1/audit/siem')).status).toBe(200);
    await follower.stop();
    await mongo.db(database).dropDatabase();
  });

  it('stops a holder whose lease another process took over', async () => {
    const database = `lease_${randomUUID().slice(0, 8)}`;
    const api = await anotherApi({ MONGODB_DATABASE: database, AUDITSTREAM_INGEST_LEASE_TTL: '3s' });
    const service = await startServiceProcess(api.env, api.log);
    started.push(service);
    const leases = mongo.db(database).collection('ingest_lease');
    await leases.deleteOne({ _id: 'ingest' as never });
    await leases.insertOne({ _id: 'ingest' as never, holder: 'someone-else', host: 'elsewhere', pid: 1, url: 'http://127.0.0.1:1', startedAt: new Date(), beat: 0, beatAt: new Date() });
    const exitCode = await new Promise<number | null>((resolve) => {
      if (service.child.exitCode !== null) resolve(service.child.exitCode);
      else service.child.once('exit', (code) => resolve(code));
    });
    expect(exitCode).toBe(1);
    await mongo.db(database).dropDatabase();
  });

  it('is taken over when its holder is gone: at once when it was a process of this machine, after the TTL when its beats stopped elsewhere', async () => {
    const database = `lease_${randomUUID().slice(0, 8)}`;
    const leases = mongo.db(database).collection('ingest_lease');
    // A holder of this machine that no longer runs: taken over without waiting the (long) TTL.
    await leases.insertOne({ _id: 'ingest' as never, holder: 'crashed', host: hostname(), pid: deadPid(), url: 'http://127.0.0.1:1', startedAt: new Date(), beat: 7, beatAt: new Date() });
    const local = await anotherApi({ MONGODB_DATABASE: database, AUDITSTREAM_INGEST_LEASE_TTL: '10m' });
    const first = await startServiceProcess(local.env, local.log);
    expect((await leases.findOne({ _id: 'ingest' as never }))?.pid).toBe(first.child.pid);
    const key = (await new ApiKeyStore({ apiKeys: mongo.db(database).collection('api_keys') } as never).issue('lease-tenant', 'test')).key;
    expect((await publish(first.httpUrl, key, ['before-takeover'])).status).toBe(200);
    await first.stop();
    // Released on a clean stop; now a silent holder on another machine: followed, then taken over once its beat has stood still for the TTL.
    expect(await leases.countDocuments({})).toBe(0);
    await leases.insertOne({ _id: 'ingest' as never, holder: 'silent', host: 'elsewhere', pid: 1, url: 'http://127.0.0.1:1', startedAt: new Date(), beat: 3, beatAt: new Date() });
    const remote = await anotherApi({ MONGODB_DATABASE: database, AUDITSTREAM_INGEST_LEASE_TTL: '3s' });
    const second = await startServiceProcess(remote.env, remote.log);
    started.push(second);
    // A takeover removes the stale lease, then inserts its own: wait for the new one, not the moment between.
    const lease = await eventually(() => leases.findOne({ _id: 'ingest' as never }), (doc) => doc !== null && doc.holder !== 'silent', 10_000);
    expect(lease?.pid).toBe(second.child.pid);
    // The new leader's id index takes what the previous one acknowledged (read from the log if that one stopped before writing it).
    const found = await eventually(() => call(second.httpUrl, key, 'GET', '/v1/audit/events/before-takeover'), (answer) => answer.status === 200, 10_000);
    expect(found.body.event).toMatchObject({ id: 'before-takeover', action: 'scale.event' });
    await second.stop();
    await mongo.db(database).dropDatabase();
  });
});
