// Random and adversarial input (fast-check) at PublishEvent, PublishEvents and
// CreateDestination: every answer is a clean success or INVALID_ARGUMENT, the process
// stays up, and nothing malformed is stored.
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedEventsOf, closeClients, database, issueKey, stack } from '../support/clients.js';

let key: string;
let createKey: string;
const tenantId = `tenant-hostile-${Date.now()}`;

beforeAll(async () => {
  key = await issueKey(tenantId);
  createKey = await issueKey(`${tenantId}-create`);
});
afterAll(closeClients);

const hostileKeys = ['__proto__', 'constructor', 'prototype', '$where', '$set', 'a.b', '.', '', '\u0000', 'ok', 'x'.repeat(300), 'é', '😀'];

const hostileString = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.constantFrom('', ' ', '\u0000', '\ud800', '<script>', "'; DROP TABLE x; --", '${jndi:ldap://x}', '%s%n', 'x'.repeat(5_000)),
);

const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    hostileString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...hostileKeys), fc.string({ maxLength: 8 })), tie('value'), { maxKeys: 4 }),
  ),
})).value;

function deep(levels: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < levels; i++) value = { [`l${i}`]: value };
  return value;
}

const eventLike = fc.record(
  {
    id: fc.oneof(hostileString, fc.constant(undefined)),
    action: fc.oneof(fc.constantFrom('user.login', 'x'), hostileString),
    outcome: fc.oneof(fc.constantFrom('success', 'failure', 'unknown'), hostileString),
    occurredAt: fc.oneof(fc.constantFrom('2026-01-01T00:00:00Z', 'yesterday', '9999-99-99', ''), fc.integer()),
    actor: fc.oneof(fc.record({ id: hostileString, ip: fc.oneof(fc.ipV4(), fc.ipV6(), hostileString) }, { requiredKeys: [] }), hostileValue),
    metadata: fc.oneof(hostileValue, fc.constant(deep(40)), fc.dictionary(fc.constantFrom(...hostileKeys), hostileValue)),
    requestId: hostileString,
  },
  { requiredKeys: [] },
);

async function post(apiKey: string, method: string, body: string | Uint8Array, contentType = 'application/json') {
  const response = await fetch(`${stack.httpUrl}/auditstream.v1.${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': contentType },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  return { status: response.status, body: await response.json().catch(() => undefined) };
}

function expectClean(response: { status: number; body: any }) {
  if (response.status !== 200) {
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.body.code).toBe('invalid_argument');
    expect(typeof response.body.message).toBe('string');
  }
}

/** What may be stored: only shapes MongoDB accepts and the validator lets through. */
function assertStorable(value: unknown, path: string): void {
  if (Array.isArray(value)) return value.forEach((item, i) => assertStorable(item, `${path}[${i}]`));
  if (value === null || typeof value !== 'object' || value instanceof Date) return;
  for (const [k, v] of Object.entries(value)) {
    expect(k.startsWith('$') || k.includes('.') || k.includes('\u0000') || k === '__proto__', `bad key ${path}.${k}`).toBe(false);
    assertStorable(v, `${path}.${k}`);
  }
}

describe('hostile input', () => {
  it('PublishEvent answers every random event cleanly', async () => {
    // Odd but valid: stored as sent (few random events are valid, so the last test always has these to check).
    const odd = { action: 'user.login', actor: { id: '😀', ip: '::1' }, metadata: { é: 'x'.repeat(5_000), '😀': [{ ok: null }, 1.5, '<script>'], deep: deep(6) } };
    for (const event of [odd, { ...odd, action: "'; DROP TABLE x; --" }]) {
      expect((await post(key, 'EventService/PublishEvent', JSON.stringify({ event }))).status).toBe(200);
    }
    await fc.assert(
      fc.asyncProperty(eventLike, async (event) => {
        expectClean(await post(key, 'EventService/PublishEvent', JSON.stringify({ event })));
      }),
      { numRuns: 150 },
    );
  }, 120_000);

  it('PublishEvents answers random batches cleanly, all or nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(eventLike, { maxLength: 8 }), async (events) => {
        expectClean(await post(key, 'EventService/PublishEvents', JSON.stringify({ events })));
      }),
      { numRuns: 60 },
    );
  }, 120_000);

  it('CreateDestination answers random requests cleanly', async () => {
    const request = fc.record(
      {
        provider: fc.oneof(fc.constantFrom('webhook', 'splunk', 'datadog', 'elastic', 'cloudwatch'), hostileString),
        endpoint: fc.oneof(fc.webUrl(), fc.constantFrom('https://169.254.169.254/', 'https://127.0.0.2/', 'file:///etc/passwd', 'javascript:alert(1)'), hostileString),
        secret: hostileString,
        token: hostileString,
        name: hostileString,
        settings: fc.oneof(fc.record({ region: hostileString, index: hostileString, tags: hostileString }, { requiredKeys: [] }), hostileValue),
        extra: hostileValue,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(request, async (body) => {
        expectClean(await post(createKey, 'DestinationService/CreateDestination', JSON.stringify(body)));
      }),
      { numRuns: 80 },
    );
  }, 120_000);

  it('answers garbage bodies cleanly on Connect JSON and binary, gRPC and gRPC-Web: never INTERNAL', async () => {
    const grpcRaw = new grpc.Client(stack.grpcUrl.replace('http://', ''), grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${key}`);
    /** The gRPC status a raw (unparsed) request body gets, sent as it is. */
    const grpcStatus = (bytes: Uint8Array) =>
      new Promise<number>((resolve) => {
        const identity = (b: Buffer) => b;
        grpcRaw.makeUnaryRequest('/auditstream.v1.EventService/PublishEvent', identity, identity, Buffer.from(bytes), metadata, (error) => resolve(error?.code ?? grpc.status.OK));
      });
    /** The gRPC-Web status: in the headers of a trailers-only answer, or in the trailer frame. */
    const grpcWebStatus = async (bytes: Uint8Array) => {
      const frame = Buffer.alloc(5 + bytes.length);
      frame.writeUInt32BE(bytes.length, 1);
      frame.set(bytes, 5);
      const response = await fetch(`${stack.httpUrl}/auditstream.v1.EventService/PublishEvent`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' },
        body: new Uint8Array(frame),
      });
      const header = response.headers.get('grpc-status');
      const text = Buffer.from(await response.arrayBuffer()).toString('latin1');
      return Number(header ?? /grpc-status:\s*(\d+)/.exec(text)?.[1]);
    };
    try {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
          expectClean(await post(key, 'EventService/PublishEvent', Buffer.from(bytes)));
          expectClean(await post(key, 'EventService/PublishEvent', Buffer.from(bytes), 'application/proto'));
          expect([grpc.status.OK, grpc.status.INVALID_ARGUMENT]).toContain(await grpcStatus(bytes));
          expect([grpc.status.OK, grpc.status.INVALID_ARGUMENT]).toContain(await grpcWebStatus(bytes));
        }),
        { numRuns: 60 },
      );
    } finally {
      grpcRaw.close();
    }
    const invalidUtf8 = Buffer.concat([Buffer.from('{"event":{"action":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}}')]);
    expectClean(await post(key, 'EventService/PublishEvent', invalidUtf8));
  }, 120_000);

  it('is still up, and everything it stored is well-formed', async () => {
    expect((await fetch(`${stack.httpUrl}/healthz`)).status).toBe(200);
    const db = await database();
    const events = await storedEventsOf(tenantId);
    expect(events.length).toBeGreaterThan(0);
    for (const event of events) {
      expect(typeof event.action).toBe('string');
      expect(event.action.trim()).not.toBe('');
      expect(['success', 'failure', 'unknown']).toContain(event.outcome);
      expect(event.occurredAt).toBeInstanceOf(Date);
      assertStorable(event.metadata, 'metadata');
    }
    const destinations = await db.collection('destinations').find({ tenantId: `${tenantId}-create` }).toArray();
    for (const destination of destinations) expect(destination.endpoint).toMatch(/^https:\/\//);
  });
});
