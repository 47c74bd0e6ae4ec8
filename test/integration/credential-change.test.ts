// A credential change cannot break a working stream, against receivers that check credentials:
// the OpenTelemetry Collector's HEC receiver (tokens), the Datadog intake (API key), an
// Elasticsearch fake (API key) and moto with IAM (access keys). A new credential the destination
// refuses is answered so by the update, and deliveries go on with the previous one, the status
// saying so; the right one is accepted at once and the previous one forgotten. Every event
// acknowledged arrives once: acknowledged = received + dropped + rejected. A webhook receiver
// still verifying with the previous secret keeps accepting (both sign for 24 hours).
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeClients, database, rest, stack } from '../support/clients.js';
import { startFakeDatadog, type FakeDatadog } from '../support/fakes/datadog.js';
import { startFakeElastic, type FakeElastic } from '../support/fakes/elastic.js';
import { iamUser, startMoto, type Moto } from '../support/fakes/moto.js';
import { newTenant } from '../support/tenant.js';
import { hecTokens, readHecRecords } from '../support/vendors/splunk-hec.js';
import { eventually } from '../support/wait.js';
import { cloudwatchMessages } from '../support/read-back.js';
import { DestinationsApi } from '../../src/api/destinations.js';
import { ServiceEvents } from '../../src/audit/self-audit.js';
import { fallbackNote } from '../../src/providers/deliver.js';
import { EgressPolicy } from '../../src/providers/egress.js';
import { HttpClient } from '../../src/providers/http.js';
import { replaceCredentials } from '../../src/providers/provider.js';
import { CredentialCipher } from '../../src/store/crypto.js';
import { CheckpointStore } from '../../src/store/checkpoints.js';
import { DestinationStore } from '../../src/store/destinations.js';
import { connectStore } from '../../src/store/mongo.js';
import { TenantStore } from '../../src/store/tenants.js';
import { TenantMasking } from '../../src/subscription/masking.js';
import type { DestinationWorkflows } from '../../src/temporal/destinations.js';

const keys = { datadog: 'dd-credential-key-0123', elastic: 'elastic:credential-secret' };
let datadog: FakeDatadog;
let elastic: FakeElastic;
let moto: Moto;
let aws: { accessKeyId: string; secretAccessKey: string };

beforeAll(async () => {
  [datadog, elastic, moto] = await Promise.all([
    startFakeDatadog(stack.pki, keys.datadog),
    startFakeElastic(stack.pki, Buffer.from(keys.elastic).toString('base64')),
    startMoto(stack.pki, stack.dir, { auth: true }),
  ]);
  aws = iamUser(moto, stack.pki);
}, 90_000);
afterAll(async () => {
  await Promise.all([datadog?.close(), elastic?.close(), moto?.process.stop()]);
  await closeClients();
});

async function cloudwatchIds(): Promise<string[]> {
  return (await cloudwatchMessages(moto, '/auditstream/credentials', 'tenant', aws)).map((message) => JSON.parse(message).id as string);
}

interface Case {
  create: () => Record<string, unknown>;
  /** A credential change the destination refuses, and the right one. */
  wrong: () => Record<string, string>;
  right: () => Record<string, string>;
  received: () => Promise<string[]>;
}

const cases: Record<string, Case> = {
  splunk: {
    create: () => ({ provider: 'splunk', endpoint: stack.vendors.hec.plainUrl, token: hecTokens.plain }),
    wrong: () => ({ token: 'hec-token-nobody-issued-0123456789' }),
    right: () => ({ token: hecTokens.plain }),
    received: async () => readHecRecords(stack.vendors.hec.outputs.plain).map((record) => String(record.event.id)),
  },
  datadog: {
    create: () => ({ provider: 'datadog', endpoint: `${datadog.url}/api/v2/logs`, token: keys.datadog }),
    wrong: () => ({ token: 'dd-a-key-datadog-never-issued' }),
    right: () => ({ token: keys.datadog }),
    received: async () => datadog.items.map((item) => String(item.evt?.id)),
  },
  elastic: {
    create: () => ({ provider: 'elastic', endpoint: elastic.url, token: Buffer.from(keys.elastic).toString('base64'), settings: { index: 'logs-auditstream-credentials' } }),
    wrong: () => ({ token: Buffer.from('elastic:not-the-secret').toString('base64') }),
    right: () => ({ token: Buffer.from(keys.elastic).toString('base64') }),
    received: async () => [...(elastic.indices.get('logs-auditstream-credentials')?.keys() ?? [])],
  },
  cloudwatch: {
    create: () => ({
      provider: 'cloudwatch',
      endpoint: moto.url,
      access_key_id: aws.accessKeyId,
      secret_access_key: aws.secretAccessKey,
      settings: { region: 'eu-west-1', log_group: '/auditstream/credentials', log_stream: 'tenant' },
    }),
    wrong: () => ({ secret_access_key: 'wJalrXUtnFEMI/K7MDENG/not-the-right-secret' }),
    right: () => ({ secret_access_key: aws.secretAccessKey }),
    received: cloudwatchIds,
  },
};

describe('a credential change', () => {
  it.each(Object.keys(cases))('%s: a refused one is answered so and the previous one keeps delivering; the right one replaces it', async (provider) => {
    const c = cases[provider];
    const t = await newTenant();
    const created = await rest(t.key, 'POST', '/v1/audit/siem', c.create());
    expect(created.status).toBe(201);
    const id = created.body.destination.id as string;
    const ids = (step: string) => [`${provider}-${step}-${t.id}`];
    const arrived = (wanted: string[]) => eventually(c.received, (found) => wanted.every((want) => found.includes(want)), 30_000);

    await t.publish(ids('before').map((eventId) => ({ id: eventId })));
    await arrived(ids('before'));

    const refused = await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, c.wrong());
    expect(refused.status).toBe(200);
    expect(refused.body.notice).toMatch(/^new credential refused: .+; still delivering with the previous one \(the previous one is kept until \S+, or until the destination accepts the new one\)$/);
    const stored = await (await database()).collection('destinations').findOne({ _id: id as never });
    expect(stored?.fallbackCredentials).toMatchObject({ sealed: { keyVersion: expect.any(Number) } });

    await t.publish(ids('refused').map((eventId) => ({ id: eventId })));
    await arrived(ids('refused'));
    const falling = await t.waitForDestination(id, (d) => d.counters.delivered === '2');
    expect(falling.status).toBe('active');
    expect(falling.statusReason).toMatch(/^new credential refused: .+; still delivering with the previous one$/);

    const accepted = await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, c.right());
    expect(accepted.body.notice).toBe('');
    expect((await (await database()).collection('destinations').findOne({ _id: id as never }))?.fallbackCredentials).toBeUndefined();
    await t.publish(ids('after').map((eventId) => ({ id: eventId })));
    await arrived(ids('after'));
    const done = await t.waitForDestination(id, (d) => d.counters.delivered === '3' && d.statusReason === '');
    expect(done.counters).toEqual({ delivered: '3', dropped: '0', rejected: '0' });
    const received = new Set((await c.received()).filter((eventId) => eventId.endsWith(t.id)));
    expect(received.size).toBe(3); // acknowledged 3 = received 3 + dropped 0 + rejected 0

    const audited = await eventually(
      async (): Promise<{ metadata: { credentialCheck?: string } }[]> => (await rest(t.key, 'GET', `/v1/audit/events?action=siem.destination.updated&resource_id=${id}`)).body.events ?? [],
      (found) => found.length === 2,
    );
    expect(audited.map((event) => event.metadata.credentialCheck?.replace(/:.*/, ''))).toEqual(['refused', 'accepted']);
  }, 90_000);
});

describe('a webhook secret change', () => {
  it('is not tried: the previous secret signs beside the new one for 24 hours, so a receiver still on it keeps accepting', async () => {
    const t = await newTenant();
    // The receiver verifies with the secret the destination was created with, and only that one.
    const { id, receiver } = await t.addWebhook();
    const changed = await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { secret: 'a-new-secret-the-receiver-does-not-know-yet' });
    expect(changed.body.notice).toBe('');
    await t.publish([{ id: `after-rotation-${t.id}` }]);
    await receiver.waitForEvents(1);
    expect(receiver.badSignatures).toEqual([]);
    const done = await t.waitForDestination(id, (d) => d.counters.delivered === '1');
    expect(done).toMatchObject({ status: 'active', statusReason: '' });
  });
});

describe('previous credentials', () => {
  it('are forgotten by the leader once a delivery went with the new ones, or once their 24 hours are over — not while deliveries fall back', async () => {
    const store = await connectStore(stack.mongodbUri, `fallbacks_${randomUUID().slice(0, 8)}`);
    try {
      const destinations = new DestinationStore(store.collections, new CredentialCipher({ current: 1, keys: new Map([[1, randomBytes(32)]]) }));
      const http = new HttpClient({ timeoutMs: 5_000, egress: new EgressPolicy([]) });
      const api = new DestinationsApi(destinations, new TenantStore(store.collections), {} as DestinationWorkflows, new ServiceEvents(store.collections), { current: () => [] }, {
        allowInsecureEndpoints: false,
        deleteFlushDeadlineMs: 1_000,
        http,
        masking: new TenantMasking(randomBytes(32)),
        checkpoints: new CheckpointStore(store.db),
      });
      const since = new Date();
      const day = 24 * 3600_000;
      const kept = async (name: string, delivery: { lastDeliveredAt?: Date; statusReason?: string }, until = new Date(since.getTime() + day)) => {
        const doc = await destinations.create('t', { name, provider: 'datadog', endpoint: 'https://http-intake.logs.datadoghq.com/api/v2/logs', enabled: true, settings: {}, credentials: { token: 'old-key-0123' } });
        const updated = await destinations.update(doc, { credentials: { token: 'new-key-0123' } }, replaceCredentials, until);
        expect((await destinations.loadTarget(doc._id))?.fallbackCredentials).toEqual(until > new Date() ? { token: 'old-key-0123' } : undefined);
        await store.collections.deliveryStates.insertOne({
          _id: doc._id,
          tenantId: 't',
          status: 'active',
          statusReason: delivery.statusReason ?? '',
          backlog: { events: 0 },
          counters: { delivered: 1, dropped: 0, rejected: 0 },
          lastDeliveredAt: delivery.lastDeliveredAt,
          pending: [],
          settled: [],
          recordedAt: new Date(),
        });
        return updated._id;
      };
      const proven = await kept('delivered with the new key', { lastDeliveredAt: new Date(since.getTime() + 1_000) });
      const fallingBack = await kept('delivering with the old key', { lastDeliveredAt: new Date(since.getTime() + 1_000), statusReason: `${fallbackNote}: Datadog rejected the API key: 403; still delivering with the previous one` });
      const before = await kept('not delivered since', { lastDeliveredAt: new Date(since.getTime() - 60_000) });
      const expired = await kept('kept past its time', {}, new Date(since.getTime() - 1));

      expect(await api.forgetProvenFallbacks()).toBe(2);
      const left = async (id: string) => (await destinations.byId(id))?.fallbackCredentials !== undefined;
      expect({ proven: await left(proven), fallingBack: await left(fallingBack), before: await left(before), expired: await left(expired) }).toEqual({
        proven: false,
        fallingBack: true,
        before: true,
        expired: false,
      });
      // A day later, whatever deliveries did.
      expect(await api.forgetProvenFallbacks(new Date(since.getTime() + day + 1_000))).toBe(2);
      expect(await left(fallingBack)).toBe(false);
    } finally {
      await store.db.dropDatabase();
      await store.close();
    }
  });
});
