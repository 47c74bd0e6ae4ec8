// Bad input gets a clear message and the right code on every protocol, and stores nothing.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedEventsOf, closeClients, connectJson, database, grpcClient, issueKey, rest, stack } from '../support/clients.js';

let key: string;
let tenantId: string;
const endpoint = 'https://siem.example.com/hook';

beforeAll(async () => {
  tenantId = `tenant-${randomUUID()}`;
  key = await issueKey(tenantId);
});
afterAll(closeClients);

async function storedCounts() {
  const db = await database();
  return {
    destinations: await db.collection('destinations').countDocuments({ tenantId }),
    events: (await storedEventsOf(tenantId)).length,
  };
}

describe('destination input', () => {
  const cases: [string, Record<string, unknown>, number, RegExp][] = [
    ['a plain-http endpoint', { provider: 'webhook', endpoint: 'http://siem.example.com/hook', secret: 's3cr3t-value' }, 400, /endpoint must be an https URL/],
    ['a malformed endpoint', { provider: 'webhook', endpoint: 'not a url', secret: 's3cr3t-value' }, 400, /endpoint must be an absolute https:\/\/ URL/],
    ['an endpoint with a password in it', { provider: 'webhook', endpoint: 'https://u:p@siem.example.com/', secret: 's3cr3t-value' }, 400, /must not contain a user name or password/],
    ['an unknown provider', { provider: 'sumologic', endpoint, secret: 's3cr3t-value' }, 400, /provider must be one of splunk, datadog, cloudwatch, elastic, webhook \(got "sumologic"\)/],
    ['missing credentials', { provider: 'webhook', endpoint }, 400, /webhook destinations need secret/],
    ['credentials of the wrong shape', { provider: 'webhook', endpoint, token: 'abc' }, 400, /webhook destinations take secret; token does not apply/],
    ['an oversize name', { provider: 'webhook', endpoint, secret: 's3cr3t-value', name: 'n'.repeat(201) }, 400, /name is 201 characters long; the limit is 200/],
    ['an oversize secret', { provider: 'webhook', endpoint, secret: 's'.repeat(4097) }, 400, /secret is 4097 characters long; the limit is 4096/],
  ];

  for (const [what, body, status, message] of cases) {
    it(`refuses ${what} on REST and Connect`, async () => {
      const before = await storedCounts();
      const viaRest = await rest(key, 'POST', '/v1/audit/siem', body);
      expect(viaRest.status).toBe(status);
      expect(viaRest.body.code).toBe('invalid_argument');
      expect(viaRest.body.message).toMatch(message);
      const viaConnect = await connectJson(key, 'DestinationService', 'CreateDestination', body);
      expect(viaConnect.status).toBe(status);
      expect(viaConnect.body).toEqual(viaRest.body);
      expect(await storedCounts()).toEqual(before);
    });
  }

  it('refuses an unknown field and malformed JSON on REST', async () => {
    const unknown = await rest(key, 'POST', '/v1/audit/siem', { provider: 'webhook', endpoint, secret: 'x'.repeat(20), colour: 'red' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toMatch(/colour/);
    const malformed = await rest(key, 'POST', '/v1/audit/siem', '{"provider": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.message).toBe('request body is not valid JSON');
    expect((await storedCounts()).destinations).toBe(0);
  });

  it('refuses an update that would break the destination, and keeps it as it was', async () => {
    const created = await rest(key, 'POST', '/v1/audit/siem', { provider: 'webhook', endpoint, secret: 'x'.repeat(20) });
    const id = created.body.destination.id;
    const badEndpoint = await rest(key, 'PATCH', `/v1/audit/siem/${id}`, { endpoint: 'ftp://siem.example.com' });
    expect(badEndpoint.status).toBe(400);
    expect(badEndpoint.body.message).toMatch(/https/);
    const wrongCredential = await rest(key, 'PATCH', `/v1/audit/siem/${id}`, { token: 'abc' });
    expect(wrongCredential.status).toBe(400);
    const emptySecret = await rest(key, 'PATCH', `/v1/audit/siem/${id}`, { secret: '' });
    expect(emptySecret.status).toBe(400);
    expect(emptySecret.body.message).toMatch(/leave it out to keep it/);
    const unchanged = await rest(key, 'GET', `/v1/audit/siem/${id}`);
    expect(unchanged.body.destination.endpoint).toBe(endpoint);
    await rest(key, 'DELETE', `/v1/audit/siem/${id}`);
  });

  it('answers NOT_FOUND for a malformed or unknown id', async () => {
    expect((await rest(key, 'GET', '/v1/audit/siem/dst_doesnotexist')).status).toBe(404);
    const malformed = await rest(key, 'GET', '/v1/audit/siem/%24where');
    expect(malformed.status).toBe(400);
    expect(malformed.body.message).toMatch(/id must be a destination id/);
  });
});

describe('event input', () => {
  const event = { action: 'user.login' };
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['an event without action', { ...event, action: '' }, /event\.action is required/],
    ['metadata keys starting with $', { ...event, metadata: { $where: 'x' } }, /starts with "\$", which cannot be stored/],
    ['metadata keys with a dot', { ...event, metadata: { nested: { 'a.b': 1 } } }, /event\.metadata\.nested key "a\.b" contains "\."/],
    ['oversize metadata', { ...event, metadata: { blob: 'x'.repeat(17 * 1024) } }, /event\.metadata is \d+ bytes as JSON; the limit is 16384/],
    ['nested arrays in metadata', { ...event, metadata: { matrix: [[1, 2]] } }, /array inside an array/],
    ['an unknown outcome', { ...event, outcome: 'maybe' }, /outcome must be one of success, failure, unknown/],
    ['an invalid actor ip', { ...event, actor: { ip: '999.1.1.1' } }, /actor\.ip must be an IPv4 or IPv6 address/],
    ['an oversize id', { ...event, id: 'i'.repeat(129) }, /event\.id must be 1–128 printable ASCII characters/],
  ];

  for (const [what, body, message] of cases) {
    it(`refuses ${what} with INVALID_ARGUMENT on Connect and gRPC`, async () => {
      const before = await storedCounts();
      const viaConnect = await connectJson(key, 'EventService', 'PublishEvent', { event: body });
      expect(viaConnect.status).toBe(400);
      expect(viaConnect.body.code).toBe('invalid_argument');
      expect(viaConnect.body.message).toMatch(message);
      const { metadata, ...rest } = body as { metadata?: Record<string, unknown> };
      if (metadata === undefined) {
        const client = grpcClient('EventService', key);
        const error = await client.call('PublishEvent', { event: rest }).catch((e: grpc.ServiceError) => e);
        client.close();
        expect((error as grpc.ServiceError).code).toBe(grpc.status.INVALID_ARGUMENT);
        // Connect percent-encodes grpc-message with encodeURIComponent; grpc-js decodes it with
        // decodeURI, which leaves reserved characters such as "," encoded.
        expect(decodeURIComponent((error as grpc.ServiceError).details)).toMatch(message);
      }
      expect(await storedCounts()).toEqual(before);
    });
  }

  it('refuses a "__proto__" key, whatever its value, on Connect JSON (before protobuf would drop it)', async () => {
    const before = await storedCounts();
    for (const metadata of ['{"__proto__":"x","kept":1}', '{"nested":{"__proto__":{"polluted":true}}}', '{"list":[{"__proto__":5}]}']) {
      const response = await fetch(`${stack.httpUrl}/auditstream.v1.EventService/PublishEvent`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: `{"event":{"action":"user.login","metadata":${metadata}}}`,
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ code: 'invalid_argument', message: 'request body has a key "__proto__", which is reserved; rename it' });
    }
    expect(await storedCounts()).toEqual(before);
  });

  it('refuses an unparseable timestamp', async () => {
    const response = await connectJson(key, 'EventService', 'PublishEvent', { event: { ...event, occurredAt: 'yesterday' } });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('invalid_argument');
    expect(response.body.message).toMatch(/occurred_at|occurredAt|timestamp/i);
  });

  it('refuses a timestamp far in the future', async () => {
    const response = await connectJson(key, 'EventService', 'PublishEvent', { event: { ...event, occurredAt: '2999-01-01T00:00:00Z' } });
    expect(response.status).toBe(400);
    expect(response.body.message).toMatch(/occurred_at must be a time between 1970 and one day from now/);
  });

  it('refuses a batch over 1000 events, and an empty one, storing none of it', async () => {
    const before = await storedCounts();
    const tooMany = await connectJson(key, 'EventService', 'PublishEvents', { events: Array.from({ length: 1001 }, () => event) });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.message).toBe('at most 1000 events per call (got 1001); split the batch');
    const oneBad = await connectJson(key, 'EventService', 'PublishEvents', { events: [event, event, { action: '' }] });
    expect(oneBad.status).toBe(400);
    expect(oneBad.body.message).toBe('events[2].action is required');
    const empty = await connectJson(key, 'EventService', 'PublishEvents', { events: [] });
    expect(empty.status).toBe(400);
    expect(await storedCounts()).toEqual(before);
  });
});
