// Bad input gets a clear message and the right code on every protocol, and stores nothing.
import { randomUUID } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PublishEventRequestSchema } from '../../src/gen/auditstream/v1/events_pb.js';
import { storedEventsOf, closeClients, connectJson, database, eventually, grpcClient, issueKey, rest, stack } from '../support/clients.js';

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

  it('refuses a "__proto__", "constructor" or "prototype" key over gRPC, whatever its value, at any depth', async () => {
    const before = await storedCounts();
    const client = grpcClient('EventService', key);
    try {
      // Computed keys: own properties, which protobuf encodes as map entries like any other.
      const structs: { fields: Record<string, unknown> }[] = [
        { fields: { ['__proto__']: { stringValue: 'x' }, kept: { numberValue: 1 } } },
        { fields: { nested: { structValue: { fields: { ['__proto__']: { structValue: { fields: { polluted: { boolValue: true } } } } } } } } },
        { fields: { constructor: { stringValue: 'x' } } },
        { fields: { list: { listValue: { values: [{ structValue: { fields: { prototype: { numberValue: 5 } } } }] } } } },
      ];
      for (const metadata of structs) {
        const error = await client.call('PublishEvent', { event: { action: 'user.login', metadata } }).catch((e: grpc.ServiceError) => e);
        expect((error as grpc.ServiceError).code).toBe(grpc.status.INVALID_ARGUMENT);
        expect(decodeURIComponent((error as grpc.ServiceError).details)).toMatch(/event\.metadata(\.[a-z]+|\[0\])* key "(__proto__|constructor|prototype)" is reserved; rename it/);
      }
    } finally {
      client.close();
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

describe('the wire', () => {
  /** A PublishEvent request in protobuf binary whose action is `bytes`, valid UTF-8 or not. */
  function binaryRequestWithAction(bytes: Buffer): Buffer {
    const marker = 'MARKERMARKER';
    const encoded = Buffer.from(toBinary(PublishEventRequestSchema, create(PublishEventRequestSchema, { event: { action: marker } })));
    const at = encoded.indexOf(marker);
    // Same length as the marker, so every length prefix around it stays right.
    return Buffer.concat([encoded.subarray(0, at), Buffer.concat([bytes, Buffer.alloc(marker.length - bytes.length, 'a')]), encoded.subarray(at + marker.length)]);
  }

  const invalidUtf8: [string, Buffer][] = [
    ['a stray byte', Buffer.from([0xff, 0xfe])],
    ['an overlong "/"', Buffer.from([0xc0, 0xaf])],
    ['an encoded surrogate', Buffer.from([0xed, 0xa0, 0x80])],
  ];

  for (const [what, bytes] of invalidUtf8) {
    it(`refuses invalid UTF-8 (${what}) with INVALID_ARGUMENT on REST, Connect JSON and binary, and gRPC, storing nothing`, async () => {
      const before = await storedCounts();
      const json = (prefix: string, suffix: string) => Buffer.concat([Buffer.from(prefix), bytes, Buffer.from(suffix)]);
      const send = async (path: string, body: Buffer, contentType = 'application/json') => {
        const response = await fetch(`${stack.httpUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': contentType }, body: new Uint8Array(body) });
        return { status: response.status, body: await response.json() };
      };
      const viaRest = await send('/v1/audit/siem', json(`{"provider":"webhook","endpoint":"${endpoint}","secret":"s3cr3t-value","name":"`, '"}'));
      expect(viaRest).toEqual({ status: 400, body: { code: 'invalid_argument', message: 'request body is not valid UTF-8: send JSON encoded as UTF-8' } });
      const viaConnect = await send('/auditstream.v1.EventService/PublishEvent', json('{"event":{"action":"user.', '"}}'));
      expect(viaConnect).toEqual(viaRest);
      const viaBinary = await send('/auditstream.v1.EventService/PublishEvent', binaryRequestWithAction(bytes), 'application/proto');
      expect(viaBinary.status).toBe(400);
      expect(viaBinary.body).toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/^parse binary: .*not valid for encoding utf-8/) });
      const grpcRaw = new grpc.Client(stack.grpcUrl.replace('http://', ''), grpc.credentials.createInsecure());
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${key}`);
      const identity = (b: Buffer) => b;
      const error = await new Promise<grpc.ServiceError | null>((resolve) =>
        grpcRaw.makeUnaryRequest('/auditstream.v1.EventService/PublishEvent', identity, identity, binaryRequestWithAction(bytes), metadata, (e) => resolve(e)),
      );
      grpcRaw.close();
      expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(await storedCounts()).toEqual(before);
    });
  }

  it('answers 400 to a malformed percent-escape in a REST path, naming it', async () => {
    for (const path of ['/v1/audit/siem/%E0%A4%A', '/v1/audit/siem/dst_x%ZZ/backfills', '/v1/audit/events/%', '/v1/audit/exports/%C0/download']) {
      const response = await rest(key, 'GET', path);
      expect(response.status, path).toBe(400);
      expect(response.body).toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/malformed %-escape .*escape "%" as %25/) });
    }
  });

  it('refuses query parameters a REST route does not take, naming them, and applies those it does', async () => {
    const misspelt = await rest(key, 'GET', '/v1/audit/events?actor_idd=x&page_size=5');
    expect(misspelt.status).toBe(400);
    expect(misspelt.body.message).toBe(
      'unknown query parameter "actor_idd" on GET /v1/audit/events: it takes occurred_after, occurred_before, action, action_prefix, actor_id, resource_type, resource_id, outcome, subject_id, outcomes, page_size, cursor, newest_first',
    );
    const onCreate = await rest(key, 'POST', '/v1/audit/siem?dry_run=1', { provider: 'webhook', endpoint, secret: 's3cr3t-value' });
    expect(onCreate.status).toBe(400);
    expect(onCreate.body.message).toBe('unknown query parameter "dry_run" on POST /v1/audit/siem: it takes none');

    // subject_id is a filter on REST as on Connect: events where the id is the actor or the resource.
    const subject = `subject-${randomUUID()}`;
    const published = await connectJson(key, 'EventService', 'PublishEvents', {
      events: [
        { action: 'doc.read', actor: { id: subject } },
        { action: 'doc.read', actor: { id: 'someone-else' }, resource: { type: 'user', id: subject } },
        { action: 'doc.read', actor: { id: 'someone-else' } },
      ],
    });
    expect(published.status).toBe(200);
    // Shown once settled (1 s in the suite).
    const viaRest = await eventually(() => rest(key, 'GET', `/v1/audit/events?subject_id=${subject}`), (answer) => answer.body.events?.length > 0, 10_000);
    expect(viaRest.status).toBe(200);
    expect(viaRest.body.events).toHaveLength(2);
    const viaConnect = await connectJson(key, 'AuditLogService', 'QueryEvents', { filter: { subjectId: subject } });
    expect(viaConnect.body.events.map((e: { id: string }) => e.id)).toEqual(viaRest.body.events.map((e: { id: string }) => e.id));
  });

  it('refuses "constructor" and "prototype" keys on Connect JSON as on gRPC', async () => {
    const before = await storedCounts();
    for (const metadata of [{ constructor: 'x' }, { nested: { prototype: 1 } }, { list: [{ constructor: { a: 1 } }] }]) {
      const response = await connectJson(key, 'EventService', 'PublishEvent', { event: { action: 'user.login', metadata } });
      expect(response.status).toBe(400);
      expect(response.body.message).toMatch(/event\.metadata(\.[a-z]+|\[0\])* key "(constructor|prototype)" is reserved; rename it/);
    }
    expect(await storedCounts()).toEqual(before);
  });
});
