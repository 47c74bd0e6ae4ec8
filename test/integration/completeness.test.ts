// Completeness on the real stack: every event a destination is sent carries its own sequence
// number, signed checkpoints follow in its stream, and the verifier — the library, and
// `npm run verify` as a customer runs it — says complete on what each receiver stored (a
// webhook receiver, the OpenTelemetry Collector's HEC receiver, Elasticsearch, moto), names a
// removed event, and after an outage past the retry window names exactly the dropped ranges
// the destination's counters report.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readStoredRecords, verifyRecords, type VerifyReport } from '../../src/completeness/verify.js';
import { projectRoot } from '../../src/stack/local.js';
import { database, rest, stack } from '../support/clients.js';
import { cloudwatchMessages } from '../support/read-back.js';
import { tenantsOfThisFile } from '../support/tenant.js';
import { vendorFakesOfThisFile } from '../support/vendor-fakes.js';
import { hecTokens, readHecRecords } from '../support/vendors/splunk-hec.js';
import { eventually } from '../support/wait.js';
import { coveredThrough, signingKeysUrl, verifierKeys, webhookStored } from '../support/verify.js';

const fakes = vendorFakesOfThisFile('dd-completeness-key-0');
const newTenant = tenantsOfThisFile();
const run = promisify(execFile);
const keysUrl = () => signingKeysUrl(stack.httpUrl);

async function verifiers() {
  const answer = await (await fetch(keysUrl())).text();
  // Public halves only: a verifier key each, one of them the current signer.
  expect(Object.keys(JSON.parse(answer).keys[0]).sort()).toEqual(['current', 'keyId', 'verifierKey', 'version']);
  const keys = await verifierKeys(stack.httpUrl);
  expect(keys.length).toBeGreaterThan(0);
  return keys;
}

/** Runs the command line as a customer would: `npm run verify -- <file> --keys <url> --destination <id>`. */
async function verifyCommand(text: string, destinationId: string): Promise<{ code: number; stdout: string }> {
  const file = join(mkdtempSync(join(tmpdir(), 'verify-')), 'stored.json');
  writeFileSync(file, text);
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/verify.ts', file, '--keys', keysUrl(), '--destination', destinationId], { cwd: projectRoot });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}

describe('proving completeness', () => {
  it('verifies complete what each receiver stored, with every sequence accounted for by the counters', async () => {
    const t = await newTenant();
    const webhook = await t.addWebhook();
    const create = async (body: Record<string, unknown>) => {
      const created = await rest(t.key, 'POST', '/v1/audit/siem', body);
      expect(created.status).toBe(201);
      return created.body.destination.id as string;
    };
    const index = `logs-auditstream-verify-${t.id.slice(-8)}`;
    const aws = { accessKeyId: 'AKIAVERIFY0000000001', secretAccessKey: 'verify-secret-key-0123456789' };
    const splunk = await create({ provider: 'splunk', endpoint: stack.vendors.hec.plainUrl, token: hecTokens.plain });
    const elastic = await create({ provider: 'elastic', endpoint: stack.vendors.elasticsearchTls, token: 'any', settings: { index }, format: 'ocsf' });
    const cloudwatch = await create({
      provider: 'cloudwatch',
      endpoint: fakes.moto().url,
      access_key_id: aws.accessKeyId,
      secret_access_key: aws.secretAccessKey,
      settings: { region: 'eu-west-1', log_group: '/auditstream/verify', log_stream: t.id },
    });
    const ids = Array.from({ length: 60 }, (_, i) => `verify-${t.id}-${i}`);
    for (let i = 0; i < ids.length; i += 20) await t.publish(ids.slice(i, i + 20).map((id) => ({ id, action: 'user.login', actor: { type: 'user', id: 'ada' } })));
    const keys = await verifiers();

    const stored: Record<string, { id: string; read: () => Promise<string> }> = {
      webhook: { id: webhook.id, read: async () => webhookStored(webhook.receiver) },
      splunk: {
        id: splunk,
        // Splunk's exported JSON: one {"result":{"_raw":…}} a line, _raw being the HEC event's JSON.
        read: async () => readHecRecords(stack.vendors.hec.outputs.plain).map((record) => JSON.stringify({ preview: false, result: { _raw: JSON.stringify(record.event) } })).join('\n'),
      },
      elastic: {
        id: elastic,
        read: async () => {
          await fetch(`${stack.vendors.elasticsearch}/${index}/_refresh`, { method: 'POST' });
          const answer = await fetch(`${stack.vendors.elasticsearch}/${index}/_search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ size: 1000, query: { match_all: {} } }) });
          return answer.ok ? answer.text() : '{}';
        },
      },
      cloudwatch: { id: cloudwatch, read: async () => JSON.stringify({ events: (await cloudwatchMessages(fakes.moto(), '/auditstream/verify', t.id, aws)).map((message, i) => ({ timestamp: i, message })) }) },
    };
    for (const [provider, { id, read }] of Object.entries(stored)) {
      // Every event arrived, and a checkpoint covering all that was sent has followed it.
      const text = await eventually(
        read,
        (found) => {
          const records = readStoredRecords(found);
          const sent = JSON.stringify(records);
          return ids.every((eventId) => sent.includes(eventId)) && coveredThrough(records, id) >= ids.length;
        },
        60_000,
      );
      const report: VerifyReport = verifyRecords(readStoredRecords(text), keys, { destinationId: id });
      const mine = report.destinations[0];
      expect(mine, provider).toMatchObject({ verdict: 'complete', gaps: [], dropped: [], altered: [], invalidCheckpoints: [], missingCheckpoints: [] });
      expect(mine.checkpoints.first, provider).toBe(1);
      // Acknowledged = received + dropped + rejected, by sequence: the counters' delivered are the sequences stored.
      const destination = await t.destination(id);
      expect(Number(destination.counters.dropped), provider).toBe(0);
      expect(mine.eventsChecked + mine.uncovered, provider).toBe(Number(destination.counters.delivered));

      // ListCheckpoints shows the same signed notes, newest first.
      const listed = await rest(t.key, 'GET', `/v1/audit/siem/${id}/checkpoints?page_size=2`);
      expect(listed.status, provider).toBe(200);
      const numbers = listed.body.checkpoints.map((c: { number: string }) => Number(c.number));
      expect(numbers[0], provider).toBeGreaterThanOrEqual(mine.checkpoints.last!);
      expect(numbers, provider).toEqual([numbers[0], numbers[0] - 1].filter((n) => n >= 1));
      expect(listed.body.checkpoints[0].note, provider).toMatch(/^auditstream checkpoint v1\n/);
    }

    // The command line, as a customer runs it: complete (exit 0); one event removed: a gap (exit 2).
    const webhookText = await stored.webhook.read();
    const complete = await verifyCommand(webhookText, webhook.id);
    expect(complete.stdout).toMatch(/: complete\n/);
    expect(complete.code).toBe(0);
    const victim = ids[17];
    const removed = webhookText
      .split('\n')
      .map((line) => {
        const body = JSON.parse(line) as { events: { id: string }[] };
        return JSON.stringify({ ...body, events: body.events.filter((event) => event.id !== victim) });
      })
      .join('\n');
    const gap = await verifyCommand(removed, webhook.id);
    expect(gap.code).toBe(2);
    expect(gap.stdout).toMatch(/GAPS \(sent, not stored\): \d+\n/);

    // Another tenant cannot list this destination's checkpoints.
    const stranger = await newTenant();
    expect((await rest(stranger.key, 'GET', `/v1/audit/siem/${webhook.id}/checkpoints`)).status).toBe(404);

    // Deleting the destination drops its checkpoints with it: nothing stays that no call can reach.
    const checkpointCollections = async () => (await (await database()).listCollections({ name: `checkpoints_${webhook.id}` }, { nameOnly: true }).toArray()).length;
    expect(await checkpointCollections()).toBe(1);
    expect((await rest(t.key, 'DELETE', `/v1/audit/siem/${webhook.id}`)).status).toBe(200);
    expect(await checkpointCollections()).toBe(0);
  });

  it('names exactly the ranges an outage past the retry window dropped, as the counters report them', async () => {
    const t = await newTenant();
    const { id, receiver } = await t.addWebhook();
    await t.publish([{ id: `before-${t.id}`, action: 'user.login' }]);
    await receiver.waitForEvents(1);
    receiver.respondWith(() => ({ status: 503 }));
    await t.publish(Array.from({ length: 12 }, (_, i) => ({ id: `lost-${t.id}-${i}`, action: 'user.login' })));
    const failed = await t.waitForDestination(id, (d) => d.status === 'failed', 60_000);
    expect(Number(failed.counters.dropped)).toBeGreaterThanOrEqual(12);
    receiver.respondWith(() => ({ status: 200 }));
    expect((await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { enabled: true })).status).toBe(200);
    await t.publish(Array.from({ length: 5 }, (_, i) => ({ id: `after-${t.id}-${i}`, action: 'user.login' })));

    const keys = await verifiers();
    const text = () => webhookStored(receiver);
    const report = await eventually(
      async () => {
        const destination = await t.destination(id);
        const records = readStoredRecords(text());
        return { destination, report: verifyRecords(records, keys, { destinationId: id }), covered: coveredThrough(records, id) };
      },
      ({ destination, report, covered }) => {
        const counters = destination.counters;
        return report.destinations.length > 0 && covered >= Number(counters.delivered) + Number(counters.dropped) + Number(counters.rejected) && destination.backlog.events === '0';
      },
      60_000,
    );
    const mine = report.report.destinations[0];
    expect(mine).toMatchObject({ verdict: 'dropped-reported', gaps: [], altered: [], invalidCheckpoints: [], missingCheckpoints: [] });
    const droppedCount = mine.dropped.reduce((sum, { lo, hi }) => sum + hi - lo + 1, 0);
    expect(droppedCount).toBe(Number(report.destination.counters.dropped));
    expect(mine.eventsChecked + mine.uncovered).toBe(Number(report.destination.counters.delivered));
    const command = await verifyCommand(text(), id);
    expect(command.code).toBe(1);
    expect(command.stdout).toMatch(/dropped and reported: \d+-\d+/);
  });

  it('signs every export with a manifest that a downloaded file is checked against', async () => {
    const t = await newTenant();
    await t.publish(Array.from({ length: 30 }, (_, i) => ({ id: `exported-${t.id}-${i}`, action: 'user.export' })));
    await new Promise((resolve) => setTimeout(resolve, 1_200)); // settled in the audit log
    const created = await rest(t.key, 'POST', '/v1/audit/exports', { filter: { action: 'user.export' }, format: 'ndjson' });
    expect(created.status).toBe(201);
    const job = await eventually(async () => (await rest(t.key, 'GET', `/v1/audit/exports/${created.body.export.id}`)).body.export, (e) => e.state === 'ready', 60_000);
    expect(job.manifest).toMatch(/^auditstream export manifest v1\n/);
    expect(job.manifest).toContain(`events 30\n`);
    expect(job.manifest).toContain(`file audit-${job.id}.ndjson\n`);
    expect(job.manifest).toContain('filter {"action":"user.export"}');
    const download = await fetch(`${stack.httpUrl}${job.downloadPath}`, { headers: { authorization: `Bearer ${t.key}` } });
    const bytes = Buffer.from(await download.arrayBuffer());

    const dir = mkdtempSync(join(tmpdir(), 'export-'));
    const files = { file: join(dir, 'export.ndjson'), altered: join(dir, 'altered.ndjson'), manifest: join(dir, 'manifest.json'), forged: join(dir, 'forged.txt') };
    writeFileSync(files.file, bytes);
    writeFileSync(files.altered, bytes.toString('utf8').replace('exported-', 'Exported-'));
    writeFileSync(files.manifest, JSON.stringify({ export: job }));
    writeFileSync(files.forged, job.manifest.replace('events 30', 'events 31'));
    const verify = async (file: string, manifest: string) =>
      run(process.execPath, ['--import', 'tsx', 'src/cli/verify.ts', '--export', file, '--manifest', manifest, '--keys', keysUrl()], { cwd: projectRoot }).then(
        ({ stdout }) => ({ code: 0, stdout }),
        (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
      );
    const ok = await verify(files.file, files.manifest);
    expect(ok).toMatchObject({ code: 0, stdout: expect.stringContaining(`matches its signed manifest — 30 events, ${bytes.length} bytes`) });
    const altered = await verify(files.altered, files.manifest);
    expect(altered).toMatchObject({ code: 3, stdout: expect.stringContaining("the file's SHA-256 is") });
    const forged = await verify(files.file, files.forged);
    expect(forged).toMatchObject({ code: 3, stdout: expect.stringContaining('does not verify') });
  });
});
