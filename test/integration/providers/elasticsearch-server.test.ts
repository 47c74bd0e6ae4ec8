// The Elastic provider against a real Elasticsearch 8.17 (Maven Central's integ-test
// distribution, started once for the run by the global setup), read back with _count and
// _search. The test creates what a customer would: an index template for the data stream,
// and a strictly mapped index. A second node with security on answers a real 401.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxBulkAnswerBytes } from '../../../src/providers/elastic/request.js';
import { closeClients, rest, stack } from '../../support/clients.js';
import { auditEvents, deliver, target } from '../../support/provider-harness.js';
import { newTenant } from '../../support/tenant.js';
import { startElasticsearch, type Elasticsearch } from '../../support/vendors/elasticsearch.js';

const es = stack.vendors.elasticsearch;
let secured: Elasticsearch;

async function call(method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${es}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

/** The events in an index: the service's destinations also write their checkpoint records there, which are not counted. */
const count = async (index: string) => {
  await call('POST', `/${index}/_refresh`);
  return (await call('POST', `/${index}/_count`, { query: { bool: { must_not: { term: { 'event.action': 'auditstream.checkpoint' } } } } })).count as number;
};
const elastic = (index: string, token = 'not-checked-security-is-off') => target('elastic', es, { token }, { index });

beforeAll(async () => {
  // A customer's setup: a data stream for auditstream's events, and an index that refuses unmapped fields.
  await call('PUT', '/_index_template/auditstream', {
    index_patterns: ['logs-auditstream-*'],
    data_stream: {},
    priority: 500,
    template: { mappings: { properties: { '@timestamp': { type: 'date' } } } },
  });
  await call('PUT', '/audit-strict', { mappings: { dynamic: 'strict', properties: { '@timestamp': { type: 'date' } } } });
  secured = await startElasticsearch({ pki: stack.pki, security: true });
}, 120_000);

afterAll(async () => {
  await secured?.stop();
  await closeClients();
});

describe('Elastic against a real Elasticsearch', () => {
  it('streams 1,000 events through the service into the data stream, each once, with _id = event id and ECS fields', async () => {
    const t = await newTenant();
    const created = await rest(t.key, 'POST', '/v1/audit/siem', { provider: 'elastic', endpoint: stack.vendors.elasticsearchTls, token: 'any', settings: { index: 'logs-auditstream-e2e' } });
    expect(created.status).toBe(201);
    for (let call = 0; call < 4; call++) {
      await t.publish(Array.from({ length: 250 }, (_, i) => ({ id: `es-e2e-${call * 250 + i}`, action: 'user.login' })));
    }
    await t.waitForDestination(created.body.destination.id, (d) => d.counters.delivered === '1000', 60_000);
    expect(await count('logs-auditstream-e2e')).toBe(1_000);
    const hit = (await call('POST', '/logs-auditstream-e2e/_search', { query: { ids: { values: ['es-e2e-7'] } } })).hits.hits[0];
    expect(hit._source).toMatchObject({ event: { id: 'es-e2e-7', action: 'user.login', outcome: 'unknown', kind: 'event' }, auditstream: { id: 'es-e2e-7' } });
    expect(hit._source['@timestamp']).toEqual(expect.any(String));
    expect(hit._index).toMatch(/^\.ds-logs-auditstream-e2e-/);
  }, 90_000);

  it('delivers 20,000 events in one delivery, and counts the same ids resent (answers of 409s far over 64 KiB) as delivered', async () => {
    const events = auditEvents(20_000, 'es-big');
    expect(await deliver(elastic('logs-auditstream-big'), events)).toEqual({ delivered: 20_000, rejected: [], confirmed: 20_000, digests: [] });
    expect(await count('logs-auditstream-big')).toBe(20_000);
    // Every item of each resent request is a 409 (document exists): about 600 KB of answer per 1,000.
    const resent = await deliver(elastic('logs-auditstream-big'), events.slice(0, 1_000));
    expect(resent).toEqual({ delivered: 1_000, rejected: [], confirmed: 1_000, digests: [] });
    expect(await count('logs-auditstream-big')).toBe(20_000);
    expect(maxBulkAnswerBytes).toBeGreaterThan(4 * 600 * 1_000);
  }, 120_000);

  it('rejects an event the index refuses (strict mapping) with Elasticsearch’s reason, and stores the others', async () => {
    const events = auditEvents(3, 'es-strict');
    const report = await deliver(elastic('audit-strict'), events);
    expect(report.delivered).toBe(0);
    expect(report.rejected).toHaveLength(3);
    expect(report.rejected[0].reason).toMatch(/^Elasticsearch refused the event: 400 strict_dynamic_mapping_exception: /);
  });

  it('goes degraded with a clear reason on a key a secured cluster refuses, and active once pointed at the right cluster', async () => {
    const t = await newTenant();
    const created = await rest(t.key, 'POST', '/v1/audit/siem', {
      provider: 'elastic',
      endpoint: secured.url,
      token: 'bm90LWEta2V5Om5vdC1hLXNlY3JldA==',
      settings: { index: 'logs-auditstream-fixed' },
    });
    const id = created.body.destination.id;
    await t.publish([{ id: 'es-fixed-1' }, { id: 'es-fixed-2' }]);
    const degraded = await t.waitForDestination(id, (d) => d.status === 'degraded', 20_000);
    expect(degraded.statusReason).toMatch(/^Elasticsearch rejected the API key: HTTP 401: .*security_exception/);
    expect(degraded.statusReason).not.toContain('bm90LWEta2V5Om5vdC1hLXNlY3JldA==');
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { endpoint: stack.vendors.elasticsearchTls });
    await t.waitForDestination(id, (d) => d.status === 'active' && d.counters.delivered === '2', 20_000);
    expect(await count('logs-auditstream-fixed')).toBe(2);
  }, 60_000);
});
