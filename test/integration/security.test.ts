// API keys (scopes, listing, revocation), credential key rotation while the service runs,
// per-tenant rate limits, and isolation of a noisy tenant's deliveries.
import { describe, expect, it } from 'vitest';
import http from 'node:http';
import { connectJson, database, eventually, rest, stack } from '../support/clients.js';
import { admin } from '../support/admin-cli.js';
import { tenantsOfThisFile } from '../support/tenant.js';

const tenant = tenantsOfThisFile();

describe('API keys', () => {
  it('issues scoped keys, lists them masked, and revokes them at once', async () => {
    const tenantId = `tenant-cli-${Date.now()}`;
    const created = await admin('keys', 'create', '--tenant', tenantId, '--scopes', 'publish', '--name', 'ingest only');
    const key = created.split('\n')[0];
    expect(key).toMatch(/^ask_[A-Za-z0-9_-]{32}$/);
    expect(created).toContain('scopes publish');

    expect((await connectJson(key, 'EventService', 'PublishEvent', { event: { action: 'x' } })).status).toBe(200);
    const manage = await rest(key, 'GET', '/v1/audit/siem');
    expect(manage.status).toBe(403);
    expect(manage.body).toEqual({ code: 'permission_denied', message: 'this API key may not manage destinations (its scopes: publish)' });

    const listed = await admin('keys', 'list', '--tenant', tenantId);
    expect(listed).toContain(`${key.slice(0, 10)}…  tenant=${tenantId}  scopes=publish`);
    expect(listed).not.toContain(key);
    const stored = await (await database()).collection('api_keys').find({ tenantId }).toArray();
    expect(JSON.stringify(stored)).not.toContain(key);

    expect(await admin('keys', 'revoke', key.slice(0, 10))).toBe('revoked 1 key(s); they stop working now');
    const after = await connectJson(key, 'EventService', 'PublishEvent', { event: { action: 'x' } });
    expect(after.status).toBe(401);
    expect(await admin('keys', 'list', '--tenant', tenantId)).toContain('REVOKED');
  });
});

describe('credential key rotation', () => {
  it('re-encrypts every destination with a new key while the service runs, and delivery goes on', async () => {
    const t = await tenant();
    const { id, receiver } = await t.addWebhook();
    const db = await database();
    const before = await db.collection('destinations').findOne({ _id: id as never });
    const output = await admin('rotate-key', '--new');
    expect(output).toMatch(/^key version (\d+): re-encrypted [1-9]\d* destinations, 0 already current$/);
    const version = Number(/key version (\d+)/.exec(output)![1]);
    const after = await db.collection('destinations').findOne({ _id: id as never });
    expect(after!.credentials.keyVersion).toBe(version);
    expect(after!.credentials.data).not.toBe(before!.credentials.data);
    // The running leader did it, on request; the answered request is gone (the collection holds pending ones only).
    expect(await db.collection('key_rotations').countDocuments({})).toBe(0);

    await t.publish([{ id: 'after-rotation' }]);
    await receiver.waitForEvents(1);
    expect(receiver.badSignatures).toEqual([]);
    expect(await admin('rotate-key')).toMatch(/re-encrypted 0 destinations/);
  });
});

describe('rate limits', () => {
  it('refuses publishing over the tenant limit with RESOURCE_EXHAUSTED and a retry hint', async () => {
    // The bucket's arithmetic is in test/unit/limits.test.ts on a driven clock; here, 8,000
    // events sent at once against 3,000 of burst and 2,000/s must meet a refusal however slow
    // the machine is, and it must read as it should over the wire.
    const t = await tenant();
    const batch = (call: number) => ({ events: Array.from({ length: 1000 }, (_, i) => ({ action: 'burst', id: `b-${call}-${i}` })) });
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, call) =>
        fetch(`${stack.httpUrl}/auditstream.v1.EventService/PublishEvents`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' },
          body: JSON.stringify(batch(call)),
        }),
      ),
    );
    const refused = answers.filter((response) => response.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(3);
    expect(answers.every((response) => response.status === 200 || response.status === 429)).toBe(true);
    expect(refused[0].headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await refused[0].json()).message).toMatch(/^rate limit of 2000 events\/s \(burst 3000\) reached for this tenant; retry in \d+ ms$/);
    const other = await tenant();
    expect((await connectJson(other.key, 'EventService', 'PublishEvents', batch(0))).status).toBe(200);
  });

  it('refuses management calls over the limit with 429 and Retry-After on REST', async () => {
    // 300 calls at once against 100 of burst and 50/s: refusals however slow the machine is.
    // Each on a connection of its own, closed after: no keep-alive socket is left for the next test to trip on.
    const t = await tenant();
    const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
    const call = () =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
        http
          .get(`${stack.httpUrl}/v1/audit/siem`, { agent, headers: { authorization: `Bearer ${t.key}` } }, (response) => {
            let body = '';
            response.on('data', (chunk) => (body += chunk)).on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
          })
          .on('error', reject);
      });
    const answers = await Promise.all(Array.from({ length: 300 }, call));
    agent.destroy();
    expect(answers.every((answer) => answer.status === 200 || answer.status === 429)).toBe(true);
    const limited = answers.find((answer) => answer.status === 429);
    expect(limited?.headers['retry-after']).toMatch(/^\d+$/);
    expect(JSON.parse(limited!.body).code).toBe('resource_exhausted');
  });

  it('keeps REST bodies within 1 MiB (413) and RPC messages within 8 MiB', async () => {
    const t = await tenant();
    const big = await rest(t.key, 'POST', '/v1/audit/siem', { name: 'x'.repeat(1_100_000) });
    expect(big.status).toBe(413);
    const huge = await fetch(`${stack.httpUrl}/auditstream.v1.DestinationService/CreateDestination`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(9 * 1024 * 1024) }),
    });
    expect(huge.status).toBeGreaterThanOrEqual(400);
    expect((await huge.json()).code).toBe('resource_exhausted');
  });
});

describe('noisy neighbours', () => {
  it("does not let one tenant's backlog delay another tenant's deliveries", async () => {
    const noisy = await tenant();
    const quiet = await tenant();
    const { id: noisyId, receiver: slow } = await noisy.addWebhook();
    const { receiver: fast } = await quiet.addWebhook();
    slow.respondWith(() => ({ status: 200, delayMs: 400 }));
    for (let i = 0; i < 3; i++) await noisy.publish(Array.from({ length: 1000 }, (_, j) => ({ id: `noise-${i}-${j}` })));
    await eventually(async () => slow.attempts, (attempts) => attempts > 0, 10_000); // the noisy tenant is delivering
    const sent = Date.now();
    await quiet.publish([{ id: 'quiet-1' }]);
    await fast.waitForEvents(1, 5_000);
    const latency = Date.now() - sent;
    const noisyState = await noisy.workflowStatus(noisyId);
    expect(noisyState.backlogEvents).toBeGreaterThan(0); // still busy with its own backlog
    expect(latency).toBeLessThan(3_000);
  });
});
