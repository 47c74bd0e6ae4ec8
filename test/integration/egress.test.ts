// Outbound requests only reach public addresses: checked at create, update and test, and
// on the address every connection actually reaches. The test service allows 127.0.0.1/32
// (its receivers), and nothing else that is not public.
import { afterAll, describe, expect, it } from 'vitest';
import { EgressPolicy } from '../../src/providers/egress.js';
import { HttpClient, NetworkError } from '../../src/providers/http.js';
import { closeClients, database, rest, stack } from '../support/clients.js';
import { startWebhookReceiver } from '../support/receiver.js';
import { newTenant, type TestTenant } from '../support/tenant.js';

const tenants: TestTenant[] = [];
afterAll(async () => {
  await Promise.all(tenants.map((t) => t.close()));
  await closeClients();
});

describe('SSRF protection', () => {
  const internal = [
    ['https://169.254.169.254/latest/meta-data/', '169.254.169.254 is not a public address (link-local (cloud metadata))'],
    ['https://10.0.0.5/hook', '10.0.0.5 is not a public address (private)'],
    ['https://127.0.0.2:8443/hook', '127.0.0.2 is not a public address (loopback)'],
    ['https://[::1]:8443/hook', '::1 is not a public address (loopback)'],
    ['https://[fd00::1]/hook', 'fd00::1 is not a public address (unique-local)'],
    ['https://0.0.0.0/hook', '0.0.0.0 is not a public address (unspecified)'],
  ];

  it.each(internal)('refuses %s at create, update and test', async (endpoint, reason) => {
    const t = await newTenant();
    tenants.push(t);
    const created = await rest(t.key, 'POST', '/v1/audit/siem', { provider: 'webhook', endpoint, secret: 'secret-value' });
    expect(created.status).toBe(400);
    expect(created.body.message).toBe(`endpoint ${reason}: destinations must be reachable on a public address`);
    const { id } = await t.addWebhook();
    const updated = await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { endpoint });
    expect(updated.status).toBe(400);
    const tested = await rest(t.key, 'POST', '/v1/audit/siem/test', { provider: 'webhook', endpoint, secret: 'secret-value' });
    expect(tested.status).toBe(400);
  });

  it('checks the address each connection reaches, whether given as an IP or a name', async () => {
    const receiver = await startWebhookReceiver(stack.pki, 's');
    const strict = new HttpClient({ timeoutMs: 2_000, caFile: stack.pki.caFile, egress: new EgressPolicy() });
    try {
      const literal = await strict.post({ url: receiver.url, headers: {}, body: Buffer.from('{}') }).catch((e) => e);
      expect(literal).toBeInstanceOf(NetworkError);
      expect(literal.message).toBe('refused to connect to 127.0.0.1: 127.0.0.1 is not a public address (loopback)');
      const named = await strict.post({ url: receiver.url.replace('127.0.0.1', 'localhost'), headers: {}, body: Buffer.from('{}') }).catch((e) => e);
      expect(named).toBeInstanceOf(NetworkError);
      expect(named.message).toMatch(/^refused to connect to localhost: (127\.0\.0\.1|::1) is not a public address \(loopback\)$/);
      expect(receiver.attempts).toBe(0);
    } finally {
      await strict.close();
      await receiver.close();
    }
  });

  it('refuses at send time an endpoint that points inside after it was accepted', async () => {
    const t = await newTenant();
    tenants.push(t);
    const { id, receiver } = await t.addWebhook();
    // As if the endpoint's name now resolved elsewhere: the stored endpoint moves to 127.0.0.2.
    const inside = receiver.url.replace('127.0.0.1', '127.0.0.2');
    await (await database()).collection('destinations').updateOne({ _id: id as never }, { $set: { endpoint: inside } });
    await t.publish([{ id: 'ssrf-1' }]);
    const degraded = await t.waitForDestination(id, (d) => d.status === 'degraded');
    expect(degraded.statusReason).toBe('refused to connect to 127.0.0.2: 127.0.0.2 is not a public address (loopback)');
    expect(receiver.attempts).toBe(0);
  });

  it('does not follow redirects', async () => {
    const t = await newTenant();
    tenants.push(t);
    const { id, receiver } = await t.addWebhook();
    const elsewhere = await startWebhookReceiver(stack.pki, 'other');
    try {
      receiver.respondWith(() => ({ status: 307, headers: { location: elsewhere.url } }));
      await t.publish([{ id: 'redirected-1' }]);
      const degraded = await t.waitForDestination(id, (d) => d.status === 'degraded');
      expect(degraded.statusReason).toBe('webhook answered HTTP 307');
      expect(elsewhere.attempts + elsewhere.badSignatures.length).toBe(0);
    } finally {
      await elsewhere.close();
    }
  });
});
