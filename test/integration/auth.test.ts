// Every call needs a key; every read and write is scoped to the key's tenant.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeClients, connectJson, grpcClient, issueKey, rest, stack } from '../support/clients.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/receiver.js';

let keyA: string;
let keyB: string;
let receiverA: WebhookReceiver;
let receiverB: WebhookReceiver;
let destinationA: string;

beforeAll(async () => {
  keyA = await issueKey(`tenant-a-${randomUUID()}`);
  keyB = await issueKey(`tenant-b-${randomUUID()}`);
  receiverA = await startWebhookReceiver(stack.pki, 'secret-of-tenant-a');
  receiverB = await startWebhookReceiver(stack.pki, 'secret-of-tenant-b');
  const created = await rest(keyA, 'POST', '/v1/audit/siem', { provider: 'webhook', endpoint: receiverA.url, secret: 'secret-of-tenant-a' });
  destinationA = created.body.destination.id;
  await rest(keyB, 'POST', '/v1/audit/siem', { provider: 'webhook', endpoint: receiverB.url, secret: 'secret-of-tenant-b' });
});

afterAll(async () => {
  await receiverA.close();
  await receiverB.close();
  await closeClients();
});

describe('authentication', () => {
  for (const [what, header] of [
    ['no key', undefined],
    ['an unknown key', 'ask_not-a-real-key'],
  ] as const) {
    it(`answers ${what} with UNAUTHENTICATED (401 on REST)`, async () => {
      const viaRest = await rest(header, 'GET', '/v1/audit/siem');
      expect(viaRest.status).toBe(401);
      expect(viaRest.body.code).toBe('unauthenticated');
      const viaConnect = await connectJson(header, 'EventService', 'PublishEvent', { event: { action: 'x' } });
      expect(viaConnect.status).toBe(401);
      const client = grpcClient('EventService', header ?? '');
      const error = (await client.call('PublishEvent', { event: { action: 'x' } }).catch((e) => e)) as grpc.ServiceError;
      client.close();
      expect(error.code).toBe(grpc.status.UNAUTHENTICATED);
    });
  }

  it('refuses an Authorization header that is not a bearer key', async () => {
    const response = await fetch(`${stack.httpUrl}/v1/audit/siem`, { headers: { authorization: `Basic ${keyA}` } });
    expect(response.status).toBe(401);
    expect((await response.json()).message).toMatch(/Authorization: Bearer/);
  });
});

describe('tenant isolation', () => {
  it("hides tenant A's destination from tenant B on every path (NOT_FOUND, never a hint)", async () => {
    const get = await rest(keyB, 'GET', `/v1/audit/siem/${destinationA}`);
    const missing = await rest(keyB, 'GET', '/v1/audit/siem/dst_nosuchdestination');
    expect(get.status).toBe(404);
    expect(get.body.message).toBe(`destination ${destinationA} not found`);
    expect(missing.status).toBe(404);
    expect((await rest(keyB, 'PATCH', `/v1/audit/siem/${destinationA}`, { enabled: false })).status).toBe(404);
    expect((await rest(keyB, 'DELETE', `/v1/audit/siem/${destinationA}`)).status).toBe(404);
    expect((await connectJson(keyB, 'DestinationService', 'GetDestination', { id: destinationA })).status).toBe(404);
    expect((await connectJson(keyB, 'DestinationService', 'UpdateDestination', { id: destinationA, name: 'x' })).status).toBe(404);
    const list = await rest(keyB, 'GET', '/v1/audit/siem');
    expect(list.body.destinations.map((d: { id: string }) => d.id)).not.toContain(destinationA);
    const stillThere = await rest(keyA, 'GET', `/v1/audit/siem/${destinationA}`);
    expect(stillThere.body.destination).toMatchObject({ id: destinationA, enabled: true });
  });

  it("never delivers tenant B's events to tenant A's destinations", async () => {
    const published = await connectJson(keyB, 'EventService', 'PublishEvents', {
      events: [{ id: 'b-only-1', action: 'b.thing' }, { id: 'b-only-2', action: 'b.thing' }],
    });
    expect(published.status).toBe(200);
    await receiverB.waitForEvents(2);
    // A's own event is the sentinel: B's were accepted and delivered before it was published.
    await connectJson(keyA, 'EventService', 'PublishEvent', { event: { id: 'a-only-1', action: 'a.thing' } });
    await receiverA.waitForEvents(1);
    expect(receiverA.acceptedEventIds()).toEqual(['a-only-1']);
    expect(receiverB.acceptedEventIds().sort()).toEqual(['b-only-1', 'b-only-2']);
  });

  it('keeps event ids per tenant: the same id in two tenants is two events', async () => {
    const a = await connectJson(keyA, 'EventService', 'PublishEvent', { event: { id: 'shared-id', action: 'a' } });
    const b = await connectJson(keyB, 'EventService', 'PublishEvent', { event: { id: 'shared-id', action: 'b' } });
    expect(a.body.duplicate).toBe(false);
    expect(b.body.duplicate).toBe(false);
  });
});
