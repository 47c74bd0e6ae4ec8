// FerretDB 1.24 hangs for good once as many updates are in flight as its own backend pool
// holds (100 connections on SQLite). The service's processes keep their MongoDB pools far
// below that (16 each), so hundreds of concurrent publishers and dozens of destinations
// delivering at once leave it answering: every publish is acknowledged, every event is
// delivered, and a ping answers throughout.
import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { closeClients, connectJson, issueKey, rest, stack } from '../support/clients.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/receiver.js';
import { eventually } from '../support/wait.js';

let receiver: WebhookReceiver;
const probe = new MongoClient(stack.mongodbUri, { maxPoolSize: 1, serverSelectionTimeoutMS: 10_000 });
afterAll(async () => {
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
    let pinging = true;
    const pings = (async () => {
      while (pinging) {
        const started = Date.now();
        await probe.db('admin').command({ ping: 1 });
        slowestPingMs = Math.max(slowestPingMs, Date.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    const calls = tenants.flatMap((key, t) =>
      Array.from({ length: 10 }, (_, c) =>
        connectJson(key, 'EventService', 'PublishEvents', { events: Array.from({ length: 5 }, (_, e) => ({ id: `load-${t}-${c}-${e}`, action: 'load.test' })) }),
      ),
    );
    const answers = await Promise.all(calls);
    expect(answers.map((answer) => answer.status).filter((status) => status !== 200)).toEqual([]);

    await eventually(async () => new Set(receiver.acceptedEventIds()).size, (delivered) => delivered === 2_000, 90_000);
    pinging = false;
    await pings;
    expect(receiver.badSignatures).toEqual([]);
    expect(slowestPingMs).toBeLessThan(5_000);
  }, 150_000);
});
