// Datadog Logs API v2 contract, against a fake intake as strict as Datadog's: Datadog ships
// no server, so every item the provider sends here is checked with the official client's
// HTTPLogItem model (@datadog/datadog-api-client), and none may fail it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeClients, rest, stack } from '../../support/clients.js';
import { startFakeDatadog, type FakeDatadog } from '../../support/fakes/datadog.js';
import { auditEvents, deliver, eventsFilling, oneByteMore, send, target } from '../../support/provider-harness.js';
import { newTenant } from '../../support/tenant.js';
import { intakeUrl } from '../../../src/providers/datadog/request.js';

let intake: FakeDatadog;
beforeAll(async () => {
  intake = await startFakeDatadog(stack.pki, 'dd-api-key-123');
});
afterAll(async () => {
  expect(intake.items.length).toBeGreaterThan(20_000);
  expect(intake.modelErrors).toEqual([]);
  await intake.close();
  await closeClients();
});

const dd = (key = 'dd-api-key-123', settings = {}) => target('datadog', `${intake.url}/api/v2/logs`, { token: key }, settings);

describe('Datadog Logs API', () => {
  it('posts to the regional intake path when only the site host is given', () => {
    expect(intakeUrl('https://http-intake.logs.datadoghq.eu')).toBe('https://http-intake.logs.datadoghq.eu/api/v2/logs');
    expect(intakeUrl('https://http-intake.logs.us5.datadoghq.com/api/v2/logs')).toBe('https://http-intake.logs.us5.datadoghq.com/api/v2/logs');
  });

  it('sends a gzip JSON array with message, ddsource, service, ddtags, hostname and the event time', async () => {
    const before = intake.items.length;
    const events = auditEvents(2, 'dd');
    expect(await send(dd('dd-api-key-123', { service: 'billing', tags: 'env:prod,team:iam' }), events)).toEqual({ kind: 'ok' });
    const last = intake.requests[intake.requests.length - 1];
    expect(last.headers['content-encoding']).toBe('gzip');
    expect(last.headers['dd-api-key']).toBe('dd-api-key-123');
    const [item] = intake.items.slice(before);
    expect(item).toMatchObject({
      ddsource: 'auditstream',
      service: 'billing',
      ddtags: 'action:user.login,outcome:success,env:prod,team:iam',
      hostname: 'auditstream',
      timestamp: events[0].occurredAt.getTime(),
      evt: { id: 'dd-0', name: 'user.login', outcome: 'success' },
      usr: { id: 'u-0', name: 'Ada' },
      network: { client: { ip: '203.0.113.9' } },
    });
    expect(JSON.parse(item.message)).toMatchObject({ id: 'dd-0', action: 'user.login' });
  });

  it('keeps the original time of events older than 18 hours and says so', async () => {
    const old = auditEvents(1, 'old', () => ({ occurredAt: new Date(Date.now() - 20 * 3600_000) }));
    const outcome = await send(dd(), old);
    expect(outcome).toMatchObject({ kind: 'ok', note: expect.stringMatching(/1 events were older than Datadog's 18-hour window/) });
    const item = intake.items[intake.items.length - 1];
    expect(item.original_timestamp).toBe(old[0].occurredAt.toISOString());
    expect(Date.now() - item.timestamp).toBeLessThan(60_000);
  });

  it('classifies a bad API key as configuration, and 408/429/503 as retry with Retry-After', async () => {
    expect(await send(dd('wrong-key'), auditEvents(1))).toMatchObject({ kind: 'config', reason: expect.stringMatching(/^Datadog rejected the API key: HTTP 403/) });
    for (const status of [408, 429, 503]) {
      intake.failNext(1, { status, headers: { 'retry-after': '7' }, json: {} });
      expect(await send(dd(), auditEvents(1))).toMatchObject({ kind: 'retry', retryAfterMs: 7000 });
    }
  });

  it('isolates the item Datadog refuses with a 400 and delivers the rest', async () => {
    intake.poisonIds.add('iso-2');
    const report = await deliver(dd(), auditEvents(5, 'iso'));
    expect(report).toEqual({
      delivered: 4,
      rejected: [{ eventId: 'iso-2', reason: 'Datadog refused a log item: HTTP 400: {"errors":["Invalid log item"]}' }],
      confirmed: 5,
      digests: [],
    });
  });

  it('caps requests at 1,000 items and 5 MB: a batch exactly at 5 MB passes, a byte over is split', async () => {
    const before = intake.requests.length;
    expect(await deliver(dd(), auditEvents(2_500, 'many'))).toEqual({ delivered: 2_500, rejected: [], confirmed: 2_500, digests: [] });
    const counts = intake.requests.slice(before).map((r) => (JSON.parse(r.body.toString()) as unknown[]).length);
    expect(counts).toEqual([1000, 1000, 500]);

    const t = dd();
    const atLimit = eventsFilling(t, 5 * 1024 * 1024, 'fill', 6_000);
    expect(atLimit.length).toBeLessThanOrEqual(1000);
    expect(await send(t, atLimit)).toEqual({ kind: 'ok' });
    const over = oneByteMore(atLimit);
    expect(await send(t, over)).toMatchObject({ kind: 'split', reason: expect.stringMatching(/HTTP 413/) });
    const afterFill = intake.requests.length;
    expect(await deliver(t, over)).toEqual({ delivered: over.length, rejected: [], confirmed: over.length, digests: [] });
    expect(intake.requests.length - afterFill).toBe(2);
  });

  it('streams through the running service', async () => {
    const t = await newTenant();
    const created = await rest(t.key, 'POST', '/v1/audit/siem', { provider: 'datadog', endpoint: `${intake.url}/api/v2/logs`, token: 'dd-api-key-123' });
    expect(created.status).toBe(201);
    await t.publish([{ id: 'e2e-dd-1' }]);
    await t.waitForDestination(created.body.destination.id, (d) => d.counters.delivered === '1');
    expect(intake.items.some((item) => item.evt?.id === 'e2e-dd-1')).toBe(true);
  });

  it('streams 1,000 events through the service, each once', async () => {
    const t = await newTenant();
    const created = await rest(t.key, 'POST', '/v1/audit/siem', { provider: 'datadog', endpoint: intake.url, token: 'dd-api-key-123' });
    for (let call = 0; call < 4; call++) await t.publish(Array.from({ length: 250 }, (_, i) => ({ id: `dd-e2e-${call * 250 + i}` })));
    await t.waitForDestination(created.body.destination.id, (d) => d.counters.delivered === '1000', 60_000);
    const ids = intake.items.map((item) => item.evt?.id as string).filter((id) => id?.startsWith('dd-e2e-'));
    expect(ids).toHaveLength(1_000);
    expect(new Set(ids).size).toBe(1_000);
  }, 90_000);

  it('delivers 20,000 events in one delivery, and the same ids sent again are accepted again (Datadog keeps copies)', async () => {
    const events = auditEvents(20_000, 'dd-big');
    expect(await deliver(dd(), events)).toEqual({ delivered: 20_000, rejected: [], confirmed: 20_000, digests: [] });
    expect(await deliver(dd(), events.slice(0, 1_000))).toEqual({ delivered: 1_000, rejected: [], confirmed: 1_000, digests: [] });
    const ids = intake.items.map((item) => item.evt?.id as string).filter((id) => id?.startsWith('dd-big-'));
    expect(ids).toHaveLength(21_000);
    expect(new Set(ids).size).toBe(20_000);
  }, 120_000);

  it('goes degraded on a refused API key, without repeating the key the intake echoed, and active once fixed', async () => {
    const t = await newTenant();
    const wrong = `dd-wrong-key-${Date.now()}`;
    const created = await rest(t.key, 'POST', '/v1/audit/siem', { provider: 'datadog', endpoint: intake.url, token: wrong });
    const id = created.body.destination.id;
    await t.publish([{ id: 'dd-fixed-1' }]);
    const degraded = await t.waitForDestination(id, (d) => d.status === 'degraded', 20_000);
    expect(degraded.statusReason).toBe(`Datadog rejected the API key: HTTP 403: {"errors":["Forbidden: API key ••••${wrong.slice(-4)} is not valid"]}`);
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { token: 'dd-api-key-123' });
    await t.waitForDestination(id, (d) => d.status === 'active' && d.counters.delivered === '1', 20_000);
  }, 60_000);
});
