// Elasticsearch _bulk contract, against a fake as strict as Elasticsearch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeClients, rest, stack } from '../../support/clients.js';
import { startFakeElastic, type FakeElastic } from '../../support/fakes/elastic.js';
import { auditEvents, deliver, eventsFilling, oneByteMore, send, target } from '../../support/provider-harness.js';
import { newTenant } from '../../support/tenant.js';
import { bulkUrl } from '../../../src/providers/elastic/request.js';
import { ecsDocument } from '../../../src/providers/elastic/encode.js';

let es: FakeElastic;
beforeAll(async () => {
  es = await startFakeElastic(stack.pki, 'ZWxhc3RpYzpzZWNyZXQ=');
});
afterAll(async () => {
  await es.close();
  await closeClients();
});

const elastic = (token = 'ZWxhc3RpYzpzZWNyZXQ=', settings = {}) => target('elastic', es.url, { token }, settings);

describe('Elasticsearch _bulk', () => {
  it('posts to <cluster>/_bulk whether or not the user gave the _bulk path', () => {
    expect(bulkUrl('https://es.example.com:9200')).toBe('https://es.example.com:9200/_bulk');
    expect(bulkUrl('https://es.example.com:9200/_bulk')).toBe('https://es.example.com:9200/_bulk');
    expect(bulkUrl('https://es.example.com/proxy/')).toBe('https://es.example.com/proxy/_bulk');
  });

  it('creates ECS documents with _id = event id in the data stream, gzip, NDJSON with a final newline', async () => {
    const events = auditEvents(2, 'ecs');
    expect(await send(elastic(), events)).toEqual({ kind: 'ok' });
    const request = es.requests[es.requests.length - 1];
    expect(request.headers['content-type']).toBe('application/x-ndjson');
    expect(request.headers['content-encoding']).toBe('gzip');
    expect(request.headers.authorization).toBe('ApiKey ZWxhc3RpYzpzZWNyZXQ=');
    const doc = es.indices.get('logs-auditstream-default')!.get('ecs-0');
    expect(doc).toEqual({
      '@timestamp': events[0].occurredAt.toISOString(),
      event: { id: 'ecs-0', action: 'user.login', outcome: 'success', kind: 'event', created: events[0].receivedAt.toISOString() },
      user: { id: 'u-0', name: 'Ada' },
      source: { ip: '203.0.113.9' },
      user_agent: { original: 'curl/8' },
      auditstream: expect.objectContaining({ id: 'ecs-0', action: 'user.login' }),
    });
  });

  it('leaves source.ip (an ECS ip field) out when the actor’s IP is not one — a masked IP is a token — keeping it under auditstream', () => {
    const [event] = auditEvents(1, 'masked-ip');
    const doc = ecsDocument({ ...event, actor: { ...event.actor, ip: 'hmac_N5dIONf4IwIIz7R5O6fa3w' } });
    expect(doc.source).toBeUndefined();
    expect(doc.auditstream).toMatchObject({ actor: { ip: 'hmac_N5dIONf4IwIIz7R5O6fa3w' } });
    expect(ecsDocument(event).source).toEqual({ ip: '203.0.113.9' });
  });

  it('counts a resent event (409 on create) as delivered', async () => {
    const events = auditEvents(2, 'resend');
    await send(elastic(), events);
    expect(await deliver(elastic(), events)).toEqual({ delivered: 2, rejected: [], confirmed: 2, digests: [] });
  });

  it('retries only the items that got 429/503, and rejects the 400s with their reason', async () => {
    es.failItem('items-1', 429, 'es_rejected_execution_exception');
    es.failItem('items-2', 400, 'mapper_parsing_exception');
    es.failItem('items-3', 503, 'unavailable_shards_exception');
    const before = es.requests.length;
    const report = await deliver(elastic(), auditEvents(4, 'items'));
    expect(report.delivered).toBe(3);
    expect(report.rejected).toEqual([{ eventId: 'items-2', reason: 'Elasticsearch refused the event: 400 mapper_parsing_exception: injected' }]);
    const resent = es.requests.slice(before + 1).map((r) => r.body.toString().match(/"_id":"([^"]+)"/g));
    expect(resent).toEqual([['"_id":"items-1"', '"_id":"items-3"']]);
  });

  it('classifies a bad API key as configuration, 429/5xx requests as retry and 413 as split', async () => {
    expect(await send(elastic('bm9wZQ=='), auditEvents(1))).toMatchObject({ kind: 'config', reason: expect.stringMatching(/^Elasticsearch rejected the API key: HTTP 401/) });
    es.failNext(1, { status: 429, json: {} });
    expect(await send(elastic(), auditEvents(1))).toMatchObject({ kind: 'retry' });
    es.failNext(1, { status: 502, json: {} });
    expect(await send(elastic(), auditEvents(1))).toMatchObject({ kind: 'retry' });
    es.failNext(1, { status: 413, json: {} });
    expect(await send(elastic(), auditEvents(2))).toMatchObject({ kind: 'split' });
  });

  it('rejects an event a data stream cannot take, and writes plain indices too', async () => {
    expect(await send(elastic('ZWxhc3RpYzpzZWNyZXQ=', { index: 'audit-plain' }), auditEvents(1, 'plain'))).toEqual({ kind: 'ok' });
    expect(es.indices.get('audit-plain')?.has('plain-0')).toBe(true);
  });

  it('passes a request exactly at the size limit and splits one a byte over', async () => {
    const small = await startFakeElastic(stack.pki, 'k', 50_000);
    try {
      const t = target('elastic', small.url, { token: 'k' });
      const atLimit = eventsFilling(t, 50_000, 'fit');
      expect(await send(t, atLimit)).toEqual({ kind: 'ok' });
      const over = oneByteMore(atLimit).map((e) => ({ ...e, id: `${e.id}-again` }));
      expect(await send(t, over)).toMatchObject({ kind: 'split' });
      expect(await deliver(t, over)).toEqual({ delivered: over.length, rejected: [], confirmed: over.length, digests: [] });
    } finally {
      await small.close();
    }
  });

  it('streams through the running service', async () => {
    const t = await newTenant();
    const created = await rest(t.key, 'POST', '/v1/audit/siem', { provider: 'elastic', endpoint: es.url, token: 'ZWxhc3RpYzpzZWNyZXQ=', settings: { index: 'logs-e2e-default' } });
    expect(created.status).toBe(201);
    await t.publish([{ id: 'e2e-es-1' }]);
    await t.waitForDestination(created.body.destination.id, (d) => d.counters.delivered === '1');
    expect(es.indices.get('logs-e2e-default')?.has('e2e-es-1')).toBe(true);
  });
});
