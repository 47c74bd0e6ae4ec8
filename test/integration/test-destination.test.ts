// TestDestination sends one marked event and reports the destination's answer; webhook
// secret rotation keeps receivers of the old secret working while they switch.
import { verify, verifyStandard } from '../../examples/webhook-receiver.js';
import { describe, expect, it } from 'vitest';
import { connectJson, eventually, rest, stack } from '../support/clients.js';
import { startFakeSplunk } from '../support/fakes/splunk.js';
import { tenantsOfThisFile } from '../support/tenant.js';

const tenant = tenantsOfThisFile();

describe('TestDestination', () => {
  it('sends a marked test event to a draft and to a saved destination, over Connect and REST', async () => {
    const t = await tenant();
    const { id, receiver, secret } = await t.addWebhook();
    const draft = await connectJson(t.key, 'DestinationService', 'TestDestination', {
      draft: { provider: 'webhook', endpoint: receiver.url, secret },
    });
    expect(draft.status).toBe(200);
    expect(draft.body).toMatchObject({ ok: true, outcome: 'ok', message: 'webhook accepted the test event', eventId: expect.stringMatching(/^auditstream-test-/) });
    const [event] = await receiver.waitForEvents(1);
    expect(event).toMatchObject({ id: draft.body.eventId, action: 'auditstream.test_event', metadata: { test: true } });

    const saved = await rest(t.key, 'POST', `/v1/audit/siem/${id}/test`);
    expect(saved.status).toBe(200);
    expect(saved.body.ok).toBe(true);
    const draftRest = await rest(t.key, 'POST', '/v1/audit/siem/test', { provider: 'webhook', endpoint: receiver.url, secret });
    expect(draftRest.body.ok).toBe(true);
    await receiver.waitForEvents(3);
    // Each test is in the audit log: the saved destination's, and each draft's, marked as one.
    const tested = await eventually(
      async () => (await connectJson(t.key, 'AuditLogService', 'QueryEvents', { filter: { action: 'siem.destination.tested' } })).body.events ?? [],
      (events: any[]) => events.length === 3,
      10_000,
    );
    expect(tested.filter((e: any) => e.resource.type === 'siem_destination_draft').map((e: any) => e.metadata)).toEqual([
      expect.objectContaining({ draft: true, provider: 'webhook', endpoint: receiver.url, ok: true, outcome: 'ok' }),
      expect.objectContaining({ draft: true, provider: 'webhook', endpoint: receiver.url, ok: true, outcome: 'ok' }),
    ]);
    expect(tested.filter((e: any) => e.resource.type === 'siem_destination').map((e: any) => e.resource.id)).toEqual([id]);
    expect(JSON.stringify(tested)).not.toContain(secret);
  });

  it('reports the classified error with the destination\'s own words', async () => {
    const t = await tenant();
    const { receiver } = await t.addWebhook();
    const wrongSecret = await rest(t.key, 'POST', '/v1/audit/siem/test', { provider: 'webhook', endpoint: receiver.url, secret: 'not-the-secret' });
    expect(wrongSecret.body).toMatchObject({ ok: false, outcome: 'config', message: 'webhook answered HTTP 401: invalid signature' });

    const hec = await startFakeSplunk(stack.pki, { right: {} });
    try {
      const badToken = await rest(t.key, 'POST', '/v1/audit/siem/test', { provider: 'splunk', endpoint: hec.url, token: 'wrong' });
      expect(badToken.body).toMatchObject({ ok: false, outcome: 'config', message: 'Splunk rejected the token: Invalid token (code 4)' });
      hec.failNext(1, { status: 503, json: { text: 'Server is busy', code: 9 } });
      const busy = await rest(t.key, 'POST', '/v1/audit/siem/test', { provider: 'splunk', endpoint: hec.url, token: 'right' });
      expect(busy.body).toMatchObject({ ok: false, outcome: 'retry', message: 'Splunk HEC unavailable: Server is busy (code 9)' });
    } finally {
      await hec.close();
    }
    const refused = await rest(t.key, 'POST', '/v1/audit/siem/test', { provider: 'webhook', endpoint: 'https://127.0.0.1:9/x', secret: 's' });
    expect(refused.body).toMatchObject({ ok: false, outcome: 'retry', message: 'connection refused' });
  });

  it("validates a draft like a create, and hides another tenant's destination", async () => {
    const a = await tenant();
    const b = await tenant();
    const { id } = await a.addWebhook();
    const invalid = await rest(b.key, 'POST', '/v1/audit/siem/test', { provider: 'webhook', endpoint: 'http://x.example', secret: 's' });
    expect(invalid.status).toBe(400);
    expect((await rest(b.key, 'POST', `/v1/audit/siem/${id}/test`)).status).toBe(404);
    expect((await connectJson(b.key, 'DestinationService', 'TestDestination', { id })).status).toBe(404);
    expect((await connectJson(b.key, 'DestinationService', 'TestDestination', {})).status).toBe(400);
  });
});

describe('webhook secret rotation', () => {
  it('signs with both secrets after a change, in both schemes, so receivers of either verify', async () => {
    const t = await tenant();
    const { id, receiver, secret: oldSecret } = await t.addWebhook();
    const newSecret = 'the-new-secret-0123456789';
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { secret: newSecret });
    await t.publish([{ id: 'rotated-1' }]);
    await receiver.waitForEvents(1); // the receiver still checks the old secret
    const [delivery] = receiver.accepted;
    // Both secrets verify, with either scheme: the receiver can switch over whenever it likes.
    for (const secret of [oldSecret, newSecret]) {
      expect(verify(delivery.signatureHeader, delivery.body, secret)).toBeUndefined();
      expect(verifyStandard(delivery.headers, delivery.body, secret)).toBeUndefined();
    }
    expect(delivery.signatureHeader.split(',').filter((part) => part.startsWith('v1='))).toHaveLength(2);
    expect(String(delivery.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verify(delivery.signatureHeader, delivery.body, 'a-third-secret-0123456789')).toBe('bad signature');
    expect(verifyStandard(delivery.headers, delivery.body, 'a-third-secret-0123456789')).toBe('No matching signature found');
  });
});
