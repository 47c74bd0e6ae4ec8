// A client retrying a batch it was not sure got stored always gets through, whatever the
// size of the log: a repeat is found by an insert into the id registry and taken out of the
// flush's own new chunk — never by a query over what the log holds (on FerretDB that reads
// it all: a retried batch of 1,000 once took 9 s on a 1,600-event log, past the deadline, and
// the client's retries never got through). A service of its own, with the default store layout
// and no publish limit, on a database of its own.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyStore } from '../../src/store/api-keys.js';
import { freePort } from '../../src/stack/processes.js';
import { stack, storedEventsOf } from '../support/clients.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';

const database = `republish_${randomUUID().slice(0, 8)}`;
const mongo = new MongoClient(stack.mongodbUri, { maxPoolSize: 2 });
let service: ServiceProcess;
let env: Record<string, string>;
let key: string;
const tenantId = `tenant-${randomUUID()}`;

beforeAll(async () => {
  env = {
    ...stack.serviceEnv,
    MONGODB_DATABASE: database,
    AUDITSTREAM_HTTP_PORT: String(await freePort()),
    AUDITSTREAM_GRPC_PORT: String(await freePort()),
    AUDITSTREAM_PUBLISH_RATE: '1000000',
    AUDITSTREAM_PUBLISH_BURST: '1000000',
  };
  // The default layout, as a newcomer's store has it (the suite's own service uses small partitions).
  for (const name of Object.keys(env)) if (name.startsWith('AUDITSTREAM_AUDIT_PARTITION')) delete env[name];
  service = await startServiceProcess(env, join(stack.dir, `republish-${database}.log`));
  key = (await new ApiKeyStore({ apiKeys: (await mongo.connect()).db(database).collection('api_keys') } as never).issue(tenantId, 'republish')).key;
}, 120_000);

afterAll(async () => {
  await service?.stop();
  await mongo.db(database).dropDatabase();
  await mongo.close();
});

const batch = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ id: `r-${from + i}`, action: 'test.republish' }));

async function publish(events: { id: string; action: string }[]): Promise<{ status: number; ms: number; body: any }> {
  const started = Date.now();
  const response = await fetch(`${service.httpUrl}/auditstream.v1.EventService/PublishEvents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ events }),
  });
  return { status: response.status, ms: Date.now() - started, body: await response.json() };
}

describe('republishing', () => {
  it('answers a batch of 1,000 stored ids within the publish deadline on a log of 90,000 events, each a duplicate, and stores each id once', async () => {
    // Any size must do; this one leaves the repeats landing beside tens of thousands of events,
    // where a query over what is stored costs the most.
    for (let from = 0; from < 90_000; from += 1_000) expect((await publish(batch(from, 1_000))).status).toBe(200);

    // All of them stored long ago (the first batch), then a mix of stored and new.
    const again = await publish(batch(0, 1_000));
    expect(again.status).toBe(200); // a repeat is never the reason for a 503
    expect(again.ms).toBeLessThan(4_500); // the publish deadline
    expect(again.body.results.every((result: { duplicate?: boolean }) => result.duplicate === true)).toBe(true);
    const mixed = await publish(batch(89_500, 1_000));
    expect(mixed.status).toBe(200);
    expect(mixed.body.results.filter((result: { duplicate?: boolean }) => result.duplicate).map((result: { id: string }) => result.id)).toEqual(
      batch(89_500, 500).map((event) => event.id),
    );

    const stored = (await storedEventsOf(tenantId, { database, env })).map((event) => event.id).filter((id) => id.startsWith('r-'));
    expect(stored).toHaveLength(90_500);
    expect(new Set(stored).size).toBe(90_500);
  }, 120_000);
});
