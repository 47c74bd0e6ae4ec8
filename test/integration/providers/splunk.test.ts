// Splunk HEC contract, against a fake HEC as strict as Splunk's.
import { isCheckpoint } from '../../support/receiver.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeClients, rest, stack } from '../../support/clients.js';
import { startFakeSplunk, type FakeSplunk } from '../../support/fakes/splunk.js';
import { auditEvents, context, deliver, eventsFilling, oneByteMore, send, target } from '../../support/provider-harness.js';
import type { FakeReply } from '../../support/fakes/server.js';
import { sendTo } from '../../../src/providers/deliver.js';
import { providerFor } from '../../../src/providers/index.js';
import { newTenant } from '../../support/tenant.js';
import { hecBase } from '../../../src/providers/splunk/request.js';

let hec: FakeSplunk;
beforeAll(async () => {
  hec = await startFakeSplunk(stack.pki, {
    'good-token': { indexes: ['main', 'audit'] },
    'disabled-token': { disabled: true },
    'ack-token': { ack: true },
  });
});
afterAll(async () => {
  await hec.close();
  await closeClients();
});

const splunk = (token = 'good-token', settings = {}) => target('splunk', `${hec.url}/services/collector/event`, { token }, settings);

describe('Splunk HEC', () => {
  it('accepts the HEC base URL or the full collector URL', () => {
    expect(hecBase('https://splunk.example.com:8088')).toBe('https://splunk.example.com:8088');
    expect(hecBase('https://splunk.example.com:8088/services/collector/event')).toBe('https://splunk.example.com:8088');
    expect(hecBase('https://splunk.example.com:8088/services/collector')).toBe('https://splunk.example.com:8088');
  });

  it('sends gzip-compressed back-to-back envelopes with time, host, source, sourcetype, index, event and flat fields', async () => {
    const before = hec.events.length;
    const events = auditEvents(3, 'hec');
    expect(await send(splunk('good-token', { index: 'audit' }), events)).toEqual({ kind: 'ok' });
    const last = hec.requests[hec.requests.length - 1];
    expect(last.headers['content-encoding']).toBe('gzip');
    expect(last.headers.authorization).toBe('Splunk good-token');
    expect(last.body.toString('utf8')).toMatch(/^\{.*\}\{.*\}\{.*\}$/s);
    const stored = hec.events.slice(before);
    expect(stored).toHaveLength(3);
    expect(stored[0]).toEqual({
      time: Number((events[0].occurredAt.getTime() / 1000).toFixed(3)),
      host: 'auditstream',
      source: 'auditstream',
      sourcetype: 'audit:event',
      index: 'audit',
      event: expect.objectContaining({ id: 'hec-0', action: 'user.login' }),
      fields: { event_id: 'hec-0', action: 'user.login', outcome: 'success' },
    });
  });

  it('classifies token problems as configuration errors with Splunk\'s words', async () => {
    expect(await send(splunk('wrong-token'), auditEvents(1))).toEqual({ kind: 'config', reason: 'Splunk rejected the token: Invalid token (code 4)' });
    expect(await send(splunk('disabled-token'), auditEvents(1))).toEqual({ kind: 'config', reason: 'Splunk rejected the token: Token disabled (code 1)' });
  });

  it('classifies an index the token may not write as configuration (code 7)', async () => {
    expect(await send(splunk('good-token', { index: 'secret-index' }), auditEvents(2))).toEqual({
      kind: 'config',
      reason: 'Splunk refused the index for this token: Incorrect index (code 7)',
    });
  });

  it('retries when HEC is busy (code 9 / 503) and delivers afterwards', async () => {
    hec.failNext(1, { status: 503, json: { text: 'Server is busy', code: 9 } });
    const outcome = await send(splunk(), auditEvents(1));
    expect(outcome).toEqual({ kind: 'retry', reason: 'Splunk HEC unavailable: Server is busy (code 9)', retryAfterMs: undefined });
    expect(await send(splunk(), auditEvents(1))).toEqual({ kind: 'ok' });
  });

  it('keeps the events before an invalid-event-number, rejects that one, and resends the rest', async () => {
    hec.failNext(1, { status: 400, json: { text: 'Event field cannot be blank', code: 13, 'invalid-event-number': 1 } });
    const before = hec.events.length;
    const report = await deliver(splunk(), auditEvents(4, 'partial'));
    expect(report.rejected).toEqual([{ eventId: 'partial-1', reason: 'Splunk refused the event: Event field cannot be blank (code 13)' }]);
    expect(report.delivered).toBe(3);
    expect(hec.requests[hec.requests.length - 1].body.toString()).toContain('partial-2');
    expect(hec.events.length - before).toBe(2); // the fake's scripted failure stored none; the resend stored 2 and 3
  });

  it('passes a request exactly at max_content_length, and splits one a byte over', async () => {
    const small = await startFakeSplunk(stack.pki, { t: {} }, 20_000);
    try {
      const t = target('splunk', small.url, { token: 't' });
      const atLimit = eventsFilling(t, 20_000, 'fit');
      expect(await send(t, atLimit)).toEqual({ kind: 'ok' });
      const over = oneByteMore(atLimit);
      expect((await send(t, over)).kind).toBe('split');
      expect(await deliver(t, over)).toEqual({ delivered: over.length, rejected: [], confirmed: over.length, digests: [] });
    } finally {
      await small.close();
    }
  });

  it('never sends a request over 1 MB uncompressed', async () => {
    const before = hec.requests.length;
    const big = auditEvents(12, 'big', () => ({ metadata: { blob: 'x'.repeat(120_000) } }));
    expect(await deliver(splunk(), big)).toEqual({ delivered: 12, rejected: [], confirmed: 12, digests: [] });
    const sizes = hec.requests.slice(before).map((r) => r.body.length);
    expect(sizes.length).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1024 * 1024);
  });

  it('waits for indexer acknowledgement before counting a batch as delivered', async () => {
    const before = hec.events.length;
    const t = target('splunk', hec.url, { token: 'ack-token' }, { indexerAck: true });
    expect(await send(t, auditEvents(2, 'acked'))).toEqual({ kind: 'ok' });
    expect(hec.events.length - before).toBe(2);
    const ackRequest = hec.requests.find((r) => r.path === '/services/collector/ack');
    expect(ackRequest?.query.get('channel')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await send(target('splunk', hec.url, { token: 'ack-token' }), auditEvents(1))).toEqual({
      kind: 'config',
      reason: 'Splunk HEC configuration problem: Data channel is missing (code 10)',
    });
  });

  it('classifies HEC answers of any shape: a 200 that is not a HEC answer is a configuration problem, never "delivered"', async () => {
    const cases: [FakeReply, string, RegExp][] = [
      [{ status: 200, text: '<html>Sign in to the proxy</html>', headers: { 'content-type': 'text/html' } }, 'config', /^the endpoint answered HTTP 200: <html>Sign in to the proxy<\/html>, which is not a Splunk HEC answer/],
      [{ status: 200, text: '' }, 'config', /not a Splunk HEC answer/],
      [{ status: 200, json: ['Success'] }, 'config', /not a Splunk HEC answer/],
      [{ status: 200, json: { text: 'Success', code: '0' } }, 'config', /not a Splunk HEC answer/],
      [{ status: 503, text: '<html>Bad gateway</html>' }, 'retry', /^Splunk HEC unavailable: HTTP 503: <html>Bad gateway<\/html>/],
      [{ status: 400, json: { text: 'weird', code: 'x' } }, 'config', /^Splunk HEC answered HTTP 400/],
    ];
    for (const [reply, kind, reason] of cases) {
      hec.failNext(1, reply);
      const outcome = await send(splunk(), auditEvents(1, 'shape'));
      expect(outcome.kind, JSON.stringify(reply)).toBe(kind);
      expect((outcome as { reason: string }).reason).toMatch(reason);
    }
  });

  it('keeps polling through an acknowledgement answer that is not one, and counts the batch once acknowledged', async () => {
    const t = target('splunk', hec.url, { token: 'ack-token' }, { indexerAck: true });
    hec.failNext(2, { status: 200, text: '<html>maintenance</html>' }, '/services/collector/ack');
    hec.failNext(1, { status: 200, json: { acks: { 0: 'yes' } } }, '/services/collector/ack');
    const before = hec.events.length;
    expect(await send(t, auditEvents(2, 'ack-shape'))).toEqual({ kind: 'ok' });
    expect(hec.events.length - before).toBe(2);
  });

  it('stops waiting for an acknowledgement as soon as the delivery is cancelled', async () => {
    const t = target('splunk', hec.url, { token: 'ack-token' }, { indexerAck: true });
    (hec as unknown as { autoAck: boolean }).autoAck = false;
    try {
      const abort = new AbortController();
      const provider = providerFor('splunk');
      const started = Date.now();
      setTimeout(() => abort.abort(), 700);
      const outcome = await sendTo(provider, auditEvents(1, 'cancelled').map((e) => provider.encode(e, t, new Date())), t, { ...context, signal: abort.signal });
      expect(outcome).toEqual({ kind: 'retry', reason: 'the delivery was cancelled while waiting for Splunk to acknowledge indexing; the batch will be sent again' });
      // One poll interval at most after the cancel, not the 30 s acknowledgement deadline.
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      (hec as unknown as { autoAck: boolean }).autoAck = true;
      hec.acknowledge();
    }
  });

  it('streams through the running service and goes degraded with a credential reason on a bad token', async () => {
    const t = await newTenant();
    const created = await rest(t.key, 'POST', '/v1/audit/siem', { provider: 'splunk', endpoint: hec.url, token: 'good-token' });
    expect(created.status).toBe(201);
    const id = created.body.destination.id;
    const before = hec.events.length;
    await t.publish([{ id: 'e2e-splunk-1' }, { id: 'e2e-splunk-2' }]);
    await t.waitForDestination(id, (d) => d.counters.delivered === '2');
    // The events, and no other record but the destination's checkpoints.
    const records = hec.events.slice(before).map((e) => e.event as { id: string; action: string });
    expect(records.filter((record) => !isCheckpoint(record)).map((record) => record.id).sort()).toEqual(['e2e-splunk-1', 'e2e-splunk-2']);

    const bad = await rest(t.key, 'POST', '/v1/audit/siem', { provider: 'splunk', endpoint: hec.url, token: 'revoked-token' });
    await t.publish([{ id: 'e2e-splunk-3' }]);
    const degraded = await t.waitForDestination(bad.body.destination.id, (d) => d.status === 'degraded');
    expect(degraded.statusReason).toBe('Splunk rejected the token: Invalid token (code 4)');
  });
});
