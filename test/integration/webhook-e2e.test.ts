// End to end on the real stack: destinations created through REST and Connect JSON, an
// event published with a plain @grpc/grpc-js client, delivered over HTTPS with a signature
// the receiver verifies as a customer would.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { closeClients, connectJson, eventually, grpcClient, issueKey, rest, stack, temporalClient } from '../support/clients.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/receiver.js';

const receivers: WebhookReceiver[] = [];
afterAll(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await closeClients();
});

describe('webhook destination, end to end', () => {
  it('delivers a gRPC-published event to destinations created over REST and Connect, signed', async () => {
    const key = await issueKey(`tenant-${randomUUID()}`);
    const restSecret = `rest-secret-${randomUUID()}`;
    const connectSecret = `connect-secret-${randomUUID()}`;
    const restReceiver = await startWebhookReceiver(stack.pki, restSecret);
    const connectReceiver = await startWebhookReceiver(stack.pki, connectSecret);
    receivers.push(restReceiver, connectReceiver);

    const created = await rest(key, 'POST', '/v1/audit/siem', {
      name: 'SIEM over REST',
      provider: 'webhook',
      endpoint: restReceiver.url,
      secret: restSecret,
    });
    expect(created.status).toBe(201);
    expect(created.body.destination).toMatchObject({ provider: 'webhook', status: 'active', enabled: true });
    expect(created.body.destination.id).toMatch(/^dst_/);
    const viaConnect = await connectJson(key, 'DestinationService', 'CreateDestination', {
      provider: 'webhook',
      endpoint: connectReceiver.url,
      secret: connectSecret,
    });
    expect(viaConnect.status).toBe(200);
    expect(viaConnect.body.destination.status).toBe('active');

    const events = grpcClient('EventService', key);
    const published = await events.call<{ id: string; duplicate: boolean }>('PublishEvent', {
      event: {
        id: 'evt-login-1',
        occurred_at: { seconds: 1_795_000_000, nanos: 0 },
        action: 'user.login',
        outcome: 'success',
        actor: { type: 'user', id: 'u-42', name: 'Ada', ip: '203.0.113.9', user_agent: 'curl/8' },
        resource: { type: 'session', id: 's-1' },
        request_id: 'req-7',
        metadata: { fields: { mfa: { boolValue: true }, region: { stringValue: 'eu-west-1' } } },
      },
    });
    events.close();
    expect(published.id).toBe('evt-login-1');
    expect(published.duplicate ?? false).toBe(false); // proto3 leaves a false bool off the wire

    for (const receiver of [restReceiver, connectReceiver]) {
      const [event] = await receiver.waitForEvents(1);
      expect(event).toEqual({
        id: 'evt-login-1',
        occurredAt: new Date(1_795_000_000_000).toISOString(),
        receivedAt: expect.any(String),
        action: 'user.login',
        outcome: 'success',
        actor: { type: 'user', id: 'u-42', name: 'Ada', ip: '203.0.113.9', userAgent: 'curl/8' },
        resource: { type: 'session', id: 's-1' },
        requestId: 'req-7',
        metadata: { mfa: true, region: 'eu-west-1' },
        // The destination's own sequence number of it, which its signed checkpoints cover.
        stream: { destinationId: expect.stringMatching(/^dst_/), sequence: expect.any(Number) },
      });
      expect(receiver.badSignatures).toEqual([]);
      const [delivery] = receiver.accepted;
      expect(delivery.deliveryId).toMatch(/^dlv_[0-9a-f]{32}$/);
      expect(delivery.deliveryIdHeader).toBe(delivery.deliveryId);
    }

    // The REST destination existed when the Connect one was created: it got that event of the
    // tenant's audit log too (the service's own), and the Connect one nothing about itself.
    expect(restReceiver.serviceEvents().map((event) => event.action)).toEqual(['siem.destination.created']);
    expect(connectReceiver.serviceEvents()).toEqual([]);
    const id = created.body.destination.id as string;
    const read = await eventually(
      () => rest(key, 'GET', `/v1/audit/siem/${id}`),
      (response) => response.body.destination.counters.delivered === '2',
    );
    expect(read.body.destination).toMatchObject({ status: 'active', statusReason: '', counters: { delivered: '2', dropped: '0', rejected: '0' } });
    expect(read.body.destination.lastDeliveredAt).toEqual(expect.any(String));

    const temporal = await temporalClient();
    // The activity records the delivery in MongoDB just before the workflow applies its result.
    const snapshot = await eventually(
      () => temporal.workflow.getHandle(`destination-${id}`).query<{ delivered: number }>('status'),
      (s) => s.delivered === 2,
      10_000,
    );
    expect(snapshot).toMatchObject({ status: 'active', delivered: 2, backlogEvents: 0 });
  });

  it('lists, updates and deletes through REST with the same JSON shapes as Connect', async () => {
    const key = await issueKey(`tenant-${randomUUID()}`);
    const secret = `secret-${randomUUID()}`;
    const receiver = await startWebhookReceiver(stack.pki, secret);
    receivers.push(receiver);
    const created = await rest(key, 'POST', '/v1/audit/siem', { provider: 'webhook', endpoint: receiver.url, secret });
    const id = created.body.destination.id as string;

    const listed = await rest(key, 'GET', '/v1/audit/siem');
    const listedViaConnect = await connectJson(key, 'DestinationService', 'ListDestinations', {});
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual(listedViaConnect.body);
    expect(listed.body.destinations.map((d: { id: string }) => d.id)).toEqual([id]);

    const renamed = await rest(key, 'PATCH', `/v1/audit/siem/${id}`, { name: 'renamed', enabled: false });
    expect(renamed.status).toBe(200);
    expect(renamed.body.destination).toMatchObject({ id, name: 'renamed', enabled: false });

    const deleted = await rest(key, 'DELETE', `/v1/audit/siem/${id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ flushed: '0', dropped: '0' });
    expect((await rest(key, 'GET', `/v1/audit/siem/${id}`)).status).toBe(404);
    expect((await rest(key, 'DELETE', `/v1/audit/siem/${id}`)).status).toBe(404);

    // Each change is in the tenant's log, by the key that made it.
    const logged = await eventually(
      async () => (await rest(key, 'GET', '/v1/audit/events?action_prefix=siem.destination.')).body.events ?? [],
      (events: any[]) => events.length >= 3,
    );
    expect(logged.map((event: any) => [event.action, event.actor.type, event.resource.id])).toEqual([
      ['siem.destination.created', 'api_key', id],
      ['siem.destination.updated', 'api_key', id],
      ['siem.destination.deleted', 'api_key', id],
    ]);
  });

  it('answers health and readiness', async () => {
    expect((await fetch(`${stack.httpUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${stack.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });
});
