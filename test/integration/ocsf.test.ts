// OCSF output: what each provider's receiver stored from a destination whose format is `ocsf`
// is an OCSF 1.3.0 API Activity event that the OCSF schema accepts (ocsf-json-schema +
// jsonschema, from PyPI), with the activity from the action's verb, the status from the outcome,
// time in epoch milliseconds, type_uid = class_uid × 100 + activity_id, and the rest unmapped.
import { describe, expect, it } from 'vitest';
import { encodeSplunkEvent } from '../../src/providers/splunk/encode.js';
import { toOcsfApiActivity } from '../../src/subscription/ocsf.js';
import { rest, stack } from '../support/clients.js';
import { vendorFakesOfThisFile } from '../support/vendor-fakes.js';
import { ocsfViolations } from '../support/ocsf.js';
import { cloudwatchMessages, elasticSources } from '../support/read-back.js';
import { newTenant } from '../support/tenant.js';
import { hecTokens, readHecRecords } from '../support/vendors/splunk-hec.js';
import { eventually } from '../support/wait.js';

const datadogKey = 'dd-ocsf-key-0123';
const aws = { accessKeyId: 'AKIAOCSF000000000001', secretAccessKey: 'ocsf-secret-key-0123456789' };
const fakes = vendorFakesOfThisFile(datadogKey);

const at = new Date('2026-12-04T05:00:00.123Z');
const base = { occurredAt: at, receivedAt: new Date(at.getTime() + 5), outcome: 'success' as const };

describe('OCSF output', () => {
  it('maps an event to API Activity, as the schema accepts it — and the validator refuses what it should not', () => {
    const events = [
      { ...base, id: 'o-1', action: 'document.create', actor: { type: 'user', id: 'u-1', name: 'Ada', ip: '203.0.113.9', userAgent: 'curl/8' }, resource: { type: 'document', id: 'doc-1' }, requestId: 'req-1' },
      { ...base, id: 'o-2', action: 'user.login', outcome: 'failure' as const, actor: { id: 'u-2' } },
      { ...base, id: 'o-3', action: 'api_key.revoked', outcome: 'unknown' as const, actor: { type: 'service', name: 'auditstream' }, metadata: { reason: 'rotation' } },
      { ...base, id: 'o-4', action: 'settings.update', actor: { ip: 'hmac_N5dIONf4IwIIz7R5O6fa3w' }, resource: { type: 'org' } },
      { ...base, id: 'o-5', action: 'deploy', replayOf: 'bkf_1' },
    ].map((event, seq) => ({ ...event, seq: seq + 1 }));
    const ocsf = events.map((event) => toOcsfApiActivity(event, 'acme'));
    expect(ocsf.map((event) => [event.activity_id, event.activity_name, event.type_uid, event.status_id])).toEqual([
      [1, 'Create', 600301, 1],
      [2, 'Read', 600302, 2],
      [4, 'Delete', 600304, 0],
      [3, 'Update', 600303, 1],
      [99, 'Other', 600399, 1],
    ]);
    expect(ocsf[0]).toMatchObject({
      class_uid: 6003,
      category_uid: 6,
      time: at.getTime(),
      actor: { user: { uid: 'u-1', name: 'Ada', type_id: 1, type: 'user' } },
      src_endpoint: { ip: '203.0.113.9' },
      http_request: { user_agent: 'curl/8' },
      api: { operation: 'document.create', request: { uid: 'req-1' } },
      resources: [{ uid: 'doc-1', type: 'document' }],
      metadata: { product: { name: 'auditstream', vendor_name: 'auditstream' }, version: '1.3.0', uid: 'o-1', sequence: 1, tenant_uid: 'acme', logged_time: at.getTime() + 5 },
    });
    expect(ocsf[2].unmapped).toEqual({ outcome: 'unknown', actor_type: 'service', metadata: { reason: 'rotation' } });
    // A masked IP is no address: it stays unmapped.
    expect(ocsf[3]).toMatchObject({ src_endpoint: { name: 'unknown' }, unmapped: { actor_ip: 'hmac_N5dIONf4IwIIz7R5O6fa3w' } });
    expect(ocsf[4]).toMatchObject({ metadata: { labels: ['replay'] }, unmapped: { replay: { backfill_id: 'bkf_1' } } });
    expect(ocsfViolations(ocsf)).toEqual(Object.fromEntries(events.map((event) => [event.id, []])));

    // The check can fail: an ISO time, an activity out of its enum, a field OCSF does not have.
    const broken = [
      { ...ocsf[0], time: at.toISOString(), metadata: { ...(ocsf[0].metadata as object), uid: 'bad-time' } },
      { ...ocsf[0], activity_id: 7, metadata: { ...(ocsf[0].metadata as object), uid: 'bad-activity' } },
      { ...ocsf[0], outcome: 'success', metadata: { ...(ocsf[0].metadata as object), uid: 'bad-field' } },
    ];
    const violations = ocsfViolations(broken);
    expect(violations['bad-time'].join()).toMatch(/^time: .* is not of type 'integer'/);
    expect(violations['bad-activity'].join()).toMatch(/activity_id: 7 is not one of/);
    expect(violations['bad-field'].join()).toMatch(/Additional properties are not allowed \('outcome' was unexpected\)/);
  });

  it('is what every provider’s receiver stores from a destination in the ocsf format', async () => {
    const t = await newTenant();
    const webhook = await t.addWebhook({ format: 'ocsf' } as never);
    const create = async (body: Record<string, unknown>) => {
      const created = await rest(t.key, 'POST', '/v1/audit/siem', { ...body, format: 'ocsf' });
      expect(created.status).toBe(201);
      expect(created.body.destination.format).toBe('ocsf');
    };
    await create({ provider: 'splunk', endpoint: stack.vendors.hec.plainUrl, token: hecTokens.plain });
    await create({ provider: 'datadog', endpoint: `${fakes.datadog().url}/api/v2/logs`, token: datadogKey });
    await create({ provider: 'elastic', endpoint: stack.vendors.elasticsearchTls, token: 'any', settings: { index: 'logs-auditstream-ocsf' } });
    await create({ provider: 'cloudwatch', endpoint: fakes.moto().url, access_key_id: aws.accessKeyId, secret_access_key: aws.secretAccessKey, settings: { region: 'eu-west-1', log_group: '/auditstream/ocsf', log_stream: 'tenant' } });

    const ids = [`ocsf-1-${t.id}`, `ocsf-2-${t.id}`];
    await t.publish([
      { id: ids[0], action: 'document.delete', outcome: 'success', actor: { type: 'user', id: 'u-9', ip: '198.51.100.7' }, resource: { type: 'document', id: 'doc-9' } },
      { id: ids[1], action: 'user.login', outcome: 'failure', actor: { id: 'u-9' }, metadata: { mfa: false } },
    ]);
    const ours = (events: Record<string, any>[]) => events.filter((event) => ids.includes(event?.metadata?.uid));
    const stored: Record<string, () => Promise<Record<string, any>[]>> = {
      webhook: async () => ours(webhook.receiver.accepted.flatMap((delivery) => delivery.events as Record<string, any>[])),
      splunk: async () => ours(readHecRecords(stack.vendors.hec.outputs.plain).map((record) => record.event)),
      datadog: async () => ours(fakes.datadog().items.map((item) => JSON.parse(item.message))),
      elastic: async () => ours((await elasticSources('logs-auditstream-ocsf', ids)).map(({ '@timestamp': _timestamp, ...event }) => event)),
      cloudwatch: async () => ours((await cloudwatchMessages(fakes.moto(), '/auditstream/ocsf', 'tenant', aws)).map((message) => JSON.parse(message))),
    };
    for (const [provider, read] of Object.entries(stored)) {
      const events = await eventually(read, (found) => found.length === 2, 30_000);
      expect(ocsfViolations(events), provider).toEqual({ [ids[0]]: [], [ids[1]]: [] });
      const byUid = Object.fromEntries(events.map((event) => [event.metadata.uid, event]));
      expect(byUid[ids[0]], provider).toMatchObject({ class_uid: 6003, activity_id: 4, type_uid: 600304, status_id: 1, src_endpoint: { ip: '198.51.100.7' }, metadata: { tenant_uid: t.id } });
      expect(byUid[ids[1]], provider).toMatchObject({ activity_id: 2, status_id: 2, unmapped: { metadata: { mfa: false } } });
    }
    // Each provider's envelope says it is OCSF where it has a place for it (unless the user named it otherwise).
    expect(fakes.datadog().items.find((item) => item.evt?.id === ids[0])?.ddsource).toBe('ocsf');
    const event = { ...base, id: 'e', action: 'a.create' };
    const envelope = (settings: Record<string, string>) => JSON.parse(encodeSplunkEvent(event, { settings, format: 'ocsf', tenantId: t.id }).bytes.toString());
    expect(envelope({}).sourcetype).toBe('ocsf:api_activity');
    expect(envelope({ sourcetype: 'custom' }).sourcetype).toBe('custom');
  }, 90_000);
});
