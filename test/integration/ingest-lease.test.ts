// One API process ingests into a store at a time (src/ingest/lease.ts): a second one on the
// same store refuses to start, with a message saying what to do, while the first goes on
// acknowledging; a holder whose lease is taken over stops; an abandoned lease is taken over.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/stack/processes.js';
import { eventually, stack } from '../support/clients.js';
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

describe('the ingest lease', () => {
  it('refuses a second API process on the same store, and the first goes on acknowledging', async () => {
    const tenant = await newTenant();
    const second = await anotherApi();
    const attempt = startServiceProcess(second.env, second.log);
    await expect(attempt).rejects.toThrow(/exited with code 1 while starting/);
    const message = await attempt.catch((error: Error) => error.message);
    expect(message).toContain("another API process holds this store's ingest lease");
    expect(message).toContain('Run one API process');
    expect(message).toContain('add workers (AUDITSTREAM_ROLE=worker)');
    const [result] = await tenant.publish([{ id: `after-refusal-${randomUUID()}` }]);
    expect(result.duplicate).toBe(false);
  });

  it('stops a holder whose lease another process took over', async () => {
    const database = `lease_${randomUUID().slice(0, 8)}`;
    const api = await anotherApi({ MONGODB_DATABASE: database, AUDITSTREAM_INGEST_LEASE_TTL: '3s' });
    const service = await startServiceProcess(api.env, api.log);
    started.push(service);
    const leases = mongo.db(database).collection('ingest_lease');
    await leases.deleteOne({ _id: 'ingest' as never });
    await leases.insertOne({ _id: 'ingest' as never, holder: 'someone-else', host: 'elsewhere', pid: 1, startedAt: new Date(), beat: 0, beatAt: new Date() });
    const exitCode = await new Promise<number | null>((resolve) => {
      if (service.child.exitCode !== null) resolve(service.child.exitCode);
      else service.child.once('exit', (code) => resolve(code));
    });
    expect(exitCode).toBe(1);
    await mongo.db(database).dropDatabase();
  });

  it('takes over a lease whose holder is gone: at once when it was a process of this machine, after the TTL when its beats stopped elsewhere', async () => {
    const database = `lease_${randomUUID().slice(0, 8)}`;
    const leases = mongo.db(database).collection('ingest_lease');
    // A holder of this machine that no longer runs: taken over without waiting the (long) TTL.
    await leases.insertOne({ _id: 'ingest' as never, holder: 'crashed', host: hostname(), pid: deadPid(), startedAt: new Date(), beat: 7, beatAt: new Date() });
    const local = await anotherApi({ MONGODB_DATABASE: database, AUDITSTREAM_INGEST_LEASE_TTL: '10m' });
    const first = await startServiceProcess(local.env, local.log);
    await first.stop();
    // Released on a clean stop; now a silent holder on another machine: taken over once its beat has stood still for the TTL.
    expect(await leases.countDocuments({})).toBe(0);
    await leases.insertOne({ _id: 'ingest' as never, holder: 'silent', host: 'elsewhere', pid: 1, startedAt: new Date(), beat: 3, beatAt: new Date() });
    const remote = await anotherApi({ MONGODB_DATABASE: database, AUDITSTREAM_INGEST_LEASE_TTL: '3s' });
    const second = await startServiceProcess(remote.env, remote.log);
    started.push(second);
    const lease = await eventually(() => leases.findOne({ _id: 'ingest' as never }), (doc) => doc?.holder !== 'silent', 10_000);
    expect(lease?.pid).toBe(second.child.pid);
    await second.stop();
    await mongo.db(database).dropDatabase();
  });
});
