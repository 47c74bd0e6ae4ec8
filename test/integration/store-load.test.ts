// FerretDB 1.24 hangs for good once as many updates are in flight as its own backend pool
// holds (100 connections on SQLite). The service's processes keep their MongoDB pools far
// below that (16 each), so hundreds of concurrent publishers and dozens of destinations
// delivering at once leave it answering: every publish is acknowledged (a few after a retry
// of an UNAVAILABLE, as the API promises under load), every event is delivered, and a ping
// answers throughout.
import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { closeClients, connectJson, issueKey, rest, stack } from '../support/clients.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/receiver.js';
import { eventually } from '../support/wait.js';

let receiver: WebhookReceiver;
const probe = new MongoClient(stack.mongodbUri, { maxPoolSize: 1, serverSelectionTimeoutMS: 10_000 });
let pinging = false;
let pings: Promise<void> | undefined;
afterAll(async () => {
  // A failed test leaves the pings going: they stop before their client closes.
  pinging = false;
  await pings;
  await receiver?.close();
  await probe.close();
  await closeClients();
});

describe('the embedded store under load', () => {
  it('keeps answering with 400 concurrent publishes to 40 tenants whose destinations all deliver', async () => {
    const secret = `secret-${randomUUID()}`;
    receiver = await startWebhookReceiver(stack.pki, secret);
    const tenants = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const key = await issueKey(`tenant-load-${i}-${randomUUID().slice(0, 6)}`);
        const created = await rest(key, 'POST', '/v1/audit/siem', { provider: 'webhook', endpoint: receiver.url, secret });
        expect(created.status).toBe(201);
        return key;
      }),
    );

    let slowestPingMs = 0;
    pinging = true;
    pings = (async () => {
      while (pinging) {
        const started = Date.now();
        await probe.db('admin').command({ ping: 1 });
        slowestPingMs = Math.max(slowestPingMs, Date.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    // As a publisher does: an UNAVAILABLE (the store did not confirm within 5 s, which a loaded
    // machine may see for a tenant's first flushes, each creating its collections) is retried
    // with the same ids. Any other answer fails the test, and so would a store that stays stuck.
    let retries = 0;
    const publish = async (key: string, body: object) => {
      for (let attempt = 1; ; attempt++) {
        const answer = await connectJson(key, 'EventService', 'PublishEvents', body);
        if (answer.status !== 503 || attempt === 5) return answer;
        retries++;
        await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
      }
    };
    const calls = tenants.flatMap((key, t) =>
      Array.from({ length: 10 }, (_, c) => publish(key, { events: Array.from({ length: 5 }, (_, e) => ({ id: `load-${t}-${c}-${e}`, action: 'load.test' })) })),
    );
    const answers = await Promise.all(calls);
    expect(answers.map((answer) => answer.status).filter((status) => status !== 200)).toEqual([]);
    expect(retries, 'publishes answered UNAVAILABLE before they were acknowledged').toBeLessThan(calls.length / 4);

    await eventually(async () => new Set(receiver.acceptedEventIds()).size, (delivered) => delivered === 2_000, 90_000);
    pinging = false;
    await pings;
    expect(receiver.badSignatures).toEqual([]);
    expect(slowestPingMs).toBeLessThan(5_000);
  }, 150_000);
});
