// The Splunk provider against a real HTTP Event Collector: the OpenTelemetry Collector's
// Splunk HEC receiver (token checks, indexer acknowledgement), started once for the run by
// the global setup; what it received is read back from its file exporter.
import { afterAll, describe, expect, it } from 'vitest';
import { closeClients, historyText, rest, stack } from '../../support/clients.js';
import { auditEvents, deliver, target } from '../../support/provider-harness.js';
import { newTenant } from '../../support/tenant.js';
import { hecTokens, readHecRecords } from '../../support/vendors/splunk-hec.js';
import { eventually } from '../../support/wait.js';

const hec = stack.vendors.hec;
const received = (endpoint: 'ack' | 'plain', prefix: string) =>
  readHecRecords(hec.outputs[endpoint]).filter((record) => String(record.event.id).startsWith(prefix));
const splunk = (endpoint: 'ack' | 'plain', settings = {}) => target('splunk', endpoint === 'ack' ? hec.ackUrl : hec.plainUrl, { token: hecTokens[endpoint] }, settings);

afterAll(closeClients);

describe('Splunk against a real HTTP Event Collector', () => {
  it('streams 1,000 events through the service, each once, with time, event and indexed fields', async () => {
    const t = await newTenant();
    const created = await rest(t.key, 'POST', '/v1/audit/siem', { provider: 'splunk', endpoint: `${hec.plainUrl}/services/collector/event`, token: hecTokens.plain });
    expect(created.status).toBe(201);
    for (let call = 0; call < 4; call++) {
      await t.publish(Array.from({ length: 250 }, (_, i) => ({ id: `hec-e2e-${call * 250 + i}`, action: 'user.login' })));
    }
    await t.waitForDestination(created.body.destination.id, (d) => d.counters.delivered === '1000', 60_000);
    const records = await eventually(async () => received('plain', 'hec-e2e-'), (r) => r.length >= 1_000);
    expect(new Set(records.map((r) => r.event.id)).size).toBe(1_000);
    expect(records).toHaveLength(1_000);
    expect(records[0]).toMatchObject({ event: { id: 'hec-e2e-0', action: 'user.login' }, fields: { event_id: 'hec-e2e-0', action: 'user.login', outcome: 'unknown' } });
    expect(Number(records[0].timeUnixNano)).toBeGreaterThan(0);
  }, 90_000);

  it('with indexer acknowledgement, counts events delivered once the collector acknowledged them', async () => {
    const t = await newTenant();
    const created = await rest(t.key, 'POST', '/v1/audit/siem', { provider: 'splunk', endpoint: hec.ackUrl, token: hecTokens.ack, settings: { indexer_ack: true } });
    await t.publish(Array.from({ length: 300 }, (_, i) => ({ id: `hec-ack-${i}` })));
    await t.waitForDestination(created.body.destination.id, (d) => d.counters.delivered === '300', 60_000);
    expect(new Set(received('ack', 'hec-ack-').map((r) => r.event.id)).size).toBe(300);
  }, 90_000);

  it('delivers 20,000 events in one delivery, and the same ids sent again are accepted again (HEC keeps copies)', async () => {
    const events = auditEvents(20_000, 'hec-big');
    expect(await deliver(splunk('plain'), events)).toEqual({ delivered: 20_000, rejected: [], confirmed: 20_000, digests: [] });
    await eventually(async () => received('plain', 'hec-big-').length, (n) => n >= 20_000);
    expect(await deliver(splunk('plain'), events.slice(0, 1_000))).toEqual({ delivered: 1_000, rejected: [], confirmed: 1_000, digests: [] });
    const copies = await eventually(async () => received('plain', 'hec-big-'), (r) => r.length >= 21_000);
    expect(copies.filter((r) => r.event.id === 'hec-big-0')).toHaveLength(2);
  }, 120_000);

  it('goes degraded on a refused token, without repeating the token the collector echoed, and active once fixed', async () => {
    const t = await newTenant();
    const wrong = `wrong-token-${Date.now()}-0123456789`;
    const created = await rest(t.key, 'POST', '/v1/audit/siem', { provider: 'splunk', endpoint: hec.plainUrl, token: wrong });
    const id = created.body.destination.id;
    await t.publish([{ id: 'hec-fixed-1' }]);
    const degraded = await t.waitForDestination(id, (d) => d.status === 'degraded', 20_000);
    // The collector answers "scheme or token does not match: Splunk <the token>".
    expect(degraded.statusReason).toBe(`Splunk rejected the token: HTTP 401: scheme or token does not match: Splunk ••••${wrong.slice(-4)}`);
    expect(await historyText(`destination-${id}`)).not.toContain(wrong);
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { token: hecTokens.plain });
    await t.waitForDestination(id, (d) => d.status === 'active' && d.counters.delivered === '1', 20_000);
    expect(received('plain', 'hec-fixed-')).toHaveLength(1);
  }, 60_000);

  it('holds a batch when indexer_ack is on but the token has no acknowledgement: degraded, and one copy per update, not a storm', async () => {
    const t = await newTenant();
    const created = await rest(t.key, 'POST', '/v1/audit/siem', { provider: 'splunk', endpoint: hec.plainUrl, token: hecTokens.plain, settings: { indexer_ack: true } });
    const id = created.body.destination.id;
    await t.publish(Array.from({ length: 5 }, (_, i) => ({ id: `hec-noack-${i}` })));
    const degraded = await t.waitForDestination(id, (d) => d.status === 'degraded', 20_000);
    expect(degraded.statusReason).toMatch(/^indexer acknowledgement is on for this destination, but Splunk returned no ackId/);
    await eventually(async () => received('plain', 'hec-noack-').length, (n) => n === 5);
    // Held, not backing off: no retry is scheduled at all, so no copy can follow until an update.
    expect(await t.workflowStatus(id)).toMatchObject({ status: 'degraded', failures: 1, backlogEvents: 5 });
    expect((await t.workflowStatus(id)).retryAt).toBeUndefined();
    expect(received('plain', 'hec-noack-')).toHaveLength(5);
    // Fixed by turning indexer_ack off: sent once more, delivered.
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { settings: { indexer_ack: false } });
    await t.waitForDestination(id, (d) => d.status === 'active' && d.counters.delivered === '5', 20_000);
    expect(received('plain', 'hec-noack-')).toHaveLength(10);
  }, 60_000);
});
