// CloudWatch Logs through the official SDK against a real moto server (HTTPS, test CA);
// events are read back with GetLogEvents. moto does not enforce the byte, count and span
// limits, so those are checked here on the batches we build. A second moto checks
// credentials as AWS does, for the refused-key path.
import { isCheckpoint } from '../../support/receiver.js';
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejectedIndexes } from '../../../src/providers/cloudwatch/classify.js';
import { buildLogBatches, maxSpanMs } from '../../../src/providers/cloudwatch/request.js';
import { providerFor } from '../../../src/providers/index.js';
import { closeClients, rest, stack } from '../../support/clients.js';
import { iamUser, startMoto, type Moto } from '../../support/fakes/moto.js';
import { auditEvents, deliver, send, target } from '../../support/provider-harness.js';
import { newTenant } from '../../support/tenant.js';

let moto: Moto;
let checking: Moto;
let reader: CloudWatchLogsClient;
const credentials = { accessKeyId: 'AKIAEXAMPLEKEY000001', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };

beforeAll(async () => {
  [moto, checking] = await Promise.all([startMoto(stack.pki, stack.dir), startMoto(stack.pki, stack.dir, { auth: true })]);
  reader = new CloudWatchLogsClient({
    region: 'eu-west-1',
    endpoint: moto.url,
    credentials,
    requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca: readFileSync(stack.pki.caFile) }) }),
  });
}, 90_000);
afterAll(async () => {
  reader?.destroy();
  await Promise.all([moto?.process.stop(), checking?.process.stop()]);
  await closeClients();
});

const cw = (group: string, stream = 'audit') => target('cloudwatch', moto.url, credentials, { region: 'eu-west-1', logGroup: group, logStream: stream });

/** Every event of the stream, oldest first, page by page. */
async function readBack(group: string, stream = 'audit') {
  const events = [];
  let token: string | undefined;
  for (;;) {
    const page = await reader.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: stream, startFromHead: true, nextToken: token }));
    events.push(...(page.events ?? []));
    if (!page.events?.length || page.nextForwardToken === token) return events;
    token = page.nextForwardToken;
  }
}
const idsOf = (events: { message?: string }[]) => events.map((e) => JSON.parse(e.message!).id as string);
/** What the service stored, less its destinations' checkpoint records (they are not events). */
const withoutCheckpoints = <T extends { message?: string }>(events: T[]) => events.filter((e) => !isCheckpoint(JSON.parse(e.message!)));

describe('CloudWatch Logs', () => {
  it('creates the log group and stream when missing, and stores the events in time order', async () => {
    const events = auditEvents(3, 'cw').reverse();
    expect(await send(cw('/auditstream/created'), events)).toEqual({ kind: 'ok' });
    const stored = await readBack('/auditstream/created');
    expect(stored.map((e) => JSON.parse(e.message!).id)).toEqual(['cw-0', 'cw-1', 'cw-2']);
    expect(stored[0].timestamp).toBe(events[2].occurredAt.getTime());
  });

  it('cuts a batch where it would span more than 24 hours', () => {
    const provider = providerFor('cloudwatch');
    const t = cw('/x');
    const now = Date.now();
    const events = [0, 10, 25, 30, 49].map((hours, i) => ({
      ...auditEvents(1, `span-${i}`)[0],
      occurredAt: new Date(now - 60 * 3600_000 + hours * 3600_000),
    }));
    const batches = buildLogBatches(events.map((e) => provider.encode(e, t, new Date())));
    for (const batch of batches) {
      const times = batch.logEvents.map((e) => e.timestamp!);
      expect(Math.max(...times) - Math.min(...times)).toBeLessThan(maxSpanMs);
    }
    expect(batches.map((b) => b.positions)).toEqual([[0, 1], [2, 3], [4]]);
  });

  it('packs at most 10,000 events and 1,048,576 bytes (message bytes + 26 each) per request', async () => {
    const provider = providerFor('cloudwatch');
    expect(provider.limits).toMatchObject({ maxEventsPerRequest: 10_000, maxBytesPerRequest: 1_048_576 });
    expect(provider.framing).toEqual({ perRequest: 0, perEvent: 26 });
    const report = await deliver(cw('/auditstream/many'), auditEvents(10_500, 'many'));
    expect(report).toEqual({ delivered: 10_500, rejected: [], confirmed: 10_500, digests: [] });
    expect((await readBack('/auditstream/many')).length).toBeGreaterThan(0);
  }, 60_000);

  it('rejects events CloudWatch refuses as too new, and stores the rest', async () => {
    const events = auditEvents(3, 'age');
    events[2].occurredAt = new Date(Date.now() + 3 * 3600_000);
    const report = await deliver(cw('/auditstream/ages'), events);
    expect(report.delivered).toBe(2);
    expect(report.rejected).toEqual([{ eventId: 'age-2', reason: 'CloudWatch refused the event: more than 2 hours in the future' }]);
    expect((await readBack('/auditstream/ages')).map((e) => JSON.parse(e.message!).id)).toEqual(['age-0', 'age-1']);
  });

  it('reads rejectedLogEventsInfo as AWS documents it (end indexes exclusive, start inclusive)', () => {
    // moto reports the index of the last too-old event rather than the exclusive end AWS
    // documents, so this part of the contract is checked here, not against moto.
    expect(rejectedIndexes({ tooOldLogEventEndIndex: 2, tooNewLogEventStartIndex: 4 }, 5).map((r) => r.index)).toEqual([0, 1, 4]);
    expect(rejectedIndexes({ expiredLogEventEndIndex: 1 }, 3)).toEqual([{ index: 0, reason: "CloudWatch refused the event: older than the log group's retention" }]);
    expect(rejectedIndexes(undefined, 3)).toEqual([]);
  });

  it('reports unreachable endpoints as retry', async () => {
    const t = target('cloudwatch', 'https://127.0.0.1:9', credentials, { region: 'eu-west-1', logGroup: 'g', logStream: 's' });
    expect(await send(t, auditEvents(1))).toMatchObject({ kind: 'retry', reason: 'connection refused' });
  });

  it('streams through the running service, read back with GetLogEvents', async () => {
    const t = await newTenant();
    const created = await rest(t.key, 'POST', '/v1/audit/siem', {
      provider: 'cloudwatch',
      endpoint: moto.url,
      access_key_id: credentials.accessKeyId,
      secret_access_key: credentials.secretAccessKey,
      settings: { region: 'eu-west-1', log_group: '/auditstream/e2e', log_stream: 'tenant' },
    });
    expect(created.status).toBe(201);
    expect(created.body.destination.credentials).toMatchObject({ accessKeyId: '••••0001', secretAccessKey: '••••EKEY' });
    await t.publish([{ id: 'e2e-cw-1' }, { id: 'e2e-cw-2' }]);
    await t.waitForDestination(created.body.destination.id, (d) => d.counters.delivered === '2');
    const stored = withoutCheckpoints(await readBack('/auditstream/e2e', 'tenant'));
    expect(stored.map((e) => JSON.parse(e.message!).id).sort()).toEqual(['e2e-cw-1', 'e2e-cw-2']);
  });

  it('streams 1,000 events through the service, each once, read back with GetLogEvents', async () => {
    const t = await newTenant();
    const created = await rest(t.key, 'POST', '/v1/audit/siem', {
      provider: 'cloudwatch',
      endpoint: moto.url,
      access_key_id: credentials.accessKeyId,
      secret_access_key: credentials.secretAccessKey,
      settings: { region: 'eu-west-1', log_group: '/auditstream/thousand', log_stream: 'tenant' },
    });
    for (let call = 0; call < 4; call++) await t.publish(Array.from({ length: 250 }, (_, i) => ({ id: `cw-e2e-${call * 250 + i}` })));
    await t.waitForDestination(created.body.destination.id, (d) => d.counters.delivered === '1000', 60_000);
    const ids = idsOf(withoutCheckpoints(await readBack('/auditstream/thousand', 'tenant')));
    expect(ids).toHaveLength(1_000);
    expect(new Set(ids).size).toBe(1_000);
  }, 90_000);

  it('delivers 20,000 events in one delivery, and the same ids sent again are stored again (CloudWatch keeps copies)', async () => {
    const events = auditEvents(20_000, 'cw-big');
    expect(await deliver(cw('/auditstream/big'), events)).toEqual({ delivered: 20_000, rejected: [], confirmed: 20_000, digests: [] });
    expect(new Set(idsOf(await readBack('/auditstream/big'))).size).toBe(20_000);
    expect(await deliver(cw('/auditstream/big'), events.slice(0, 1_000))).toEqual({ delivered: 1_000, rejected: [], confirmed: 1_000, digests: [] });
    const ids = idsOf(await readBack('/auditstream/big'));
    expect(ids).toHaveLength(21_000);
    expect(ids.filter((id) => id === 'cw-big-0')).toHaveLength(2);
  }, 120_000);

  it('goes degraded with a clear reason on credentials AWS refuses, and active once they are fixed', async () => {
    const allowed = iamUser(checking, stack.pki);
    const t = await newTenant();
    const settings = { region: 'eu-west-1', log_group: '/auditstream/keys', log_stream: 'tenant' };
    const wrongSecret = 'wJalrXUtnFEMI/K7MDENG/not-the-right-secret';
    const created = await rest(t.key, 'POST', '/v1/audit/siem', {
      provider: 'cloudwatch',
      endpoint: checking.url,
      access_key_id: allowed.accessKeyId,
      secret_access_key: wrongSecret,
      settings,
    });
    const id = created.body.destination.id;
    await t.publish([{ id: 'cw-keys-1' }, { id: 'cw-keys-2' }]);
    const degraded = await t.waitForDestination(id, (d) => d.status === 'degraded', 20_000);
    expect(degraded.statusReason).toBe('CloudWatch Logs rejected the credentials: HTTP 403 (an answer the AWS SDK could not read)');
    expect(degraded.statusReason).not.toContain(wrongSecret);
    await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { secret_access_key: allowed.secretAccessKey });
    await t.waitForDestination(id, (d) => d.status === 'active' && d.counters.delivered === '2', 20_000);
  }, 60_000);

  it('refuses a cloudwatch destination without region, log group or stream', async () => {
    const t = await newTenant();
    const response = await rest(t.key, 'POST', '/v1/audit/siem', {
      provider: 'cloudwatch',
      endpoint: moto.url,
      access_key_id: credentials.accessKeyId,
      secret_access_key: credentials.secretAccessKey,
    });
    expect(response.status).toBe(400);
    expect(response.body.message).toBe('cloudwatch destinations need settings.region (AWS region of the log group, e.g. "eu-west-1")');
  });
});
