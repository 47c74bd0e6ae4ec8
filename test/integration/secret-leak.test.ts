// Recognisable secrets in every provider's credentials (and the checkpoint signing keys) go through create, update, list,
// get, test and failing deliveries; then every API response, every log line, the whole
// Temporal history of each destination's workflow (payloads decoded) and every raw
// MongoDB document are searched: the secrets appear nowhere in clear text — also where a
// destination repeats the credential it refused (the real Splunk HEC receiver does, and so
// does the Datadog fake).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { closeClients, connectJson, database, historyText, rest, stack } from '../support/clients.js';
import { startFakeDatadog } from '../support/fakes/datadog.js';
import { startFakeElastic } from '../support/fakes/elastic.js';
import { startFakeSplunk } from '../support/fakes/splunk.js';
import { startWebhookReceiver } from '../support/receiver.js';
import { newTenant } from '../support/tenant.js';

afterAll(closeClients);

const marker = (name: string) => `LEAKCHECK${name}${randomUUID().replace(/-/g, '')}`;

describe('credentials never leak', () => {
  it('appear in no response, log line, workflow history or raw document', async () => {
    const t = await newTenant();
    const splunk = await startFakeSplunk(stack.pki, { 'the-right-token': {} });
    const datadog = await startFakeDatadog(stack.pki, 'the-right-key');
    const elastic = await startFakeElastic(stack.pki, 'the-right-key');
    const webhook = await startWebhookReceiver(stack.pki, 'the-right-secret');
    const secrets: string[] = [];
    const responses: unknown[] = [];
    const keep = <T>(value: T) => (responses.push(value), value);
    try {
      const destinations = [
        { provider: 'splunk', endpoint: splunk.url, fields: { token: marker('splunk') }, rotate: { token: marker('splunk2') } },
        { provider: 'splunk', endpoint: stack.vendors.hec.plainUrl, fields: { token: marker('echoed') }, rotate: { token: marker('echoed2') } },
        { provider: 'datadog', endpoint: `${datadog.url}/api/v2/logs`, fields: { token: marker('dd') }, rotate: { token: marker('dd2') } },
        { provider: 'elastic', endpoint: elastic.url, fields: { token: marker('es') }, rotate: { token: marker('es2') } },
        { provider: 'webhook', endpoint: webhook.url, fields: { secret: marker('hook') }, rotate: { secret: marker('hook2') } },
        {
          provider: 'cloudwatch',
          endpoint: 'https://127.0.0.1:9',
          fields: { access_key_id: marker('AKID'), secret_access_key: marker('cwsecret') },
          rotate: { secret_access_key: marker('cwsecret2') },
          settings: { region: 'eu-west-1', log_group: 'g', log_stream: 's' },
        },
      ];
      const ids: string[] = [];
      for (const d of destinations) {
        secrets.push(...Object.values(d.fields), ...Object.values(d.rotate));
        const body = { provider: d.provider, endpoint: d.endpoint, ...d.fields, ...(d.settings ? { settings: d.settings } : {}) };
        keep(await rest(t.key, 'POST', '/v1/audit/siem/test', body));
        const created = keep(await rest(t.key, 'POST', '/v1/audit/siem', body));
        expect(created.status).toBe(201);
        ids.push(created.body.destination.id);
      }
      await t.publish([{ id: 'leak-1' }, { id: 'leak-2' }]);
      for (const id of ids) await t.waitForDestination(id, (d) => d.status === 'degraded');
      for (const [index, d] of destinations.entries()) {
        keep(await rest(t.key, 'PATCH', `/v1/audit/siem/${ids[index]}`, d.rotate));
        keep(await rest(t.key, 'POST', `/v1/audit/siem/${ids[index]}/test`));
        keep(await connectJson(t.key, 'DestinationService', 'GetDestination', { id: ids[index] }));
      }
      await t.publish([{ id: 'leak-3' }]);
      keep(await rest(t.key, 'GET', '/v1/audit/siem'));
      keep(await connectJson(t.key, 'DestinationService', 'ListDestinations', {}));
      for (const id of ids) keep(await rest(t.key, 'GET', `/v1/audit/siem/${id}`));
      // Each has been refused with the rotated credentials (the update tried them first): degraded,
      // or failed once the suite's 10 s window ran out on a loaded machine.
      for (const id of ids) await t.waitForDestination(id, (d) => ['degraded', 'failed'].includes(d.status));

      const haystacks: Record<string, string> = {
        'API responses': JSON.stringify(responses),
        'service log': readFileSync(stack.serviceLog, 'utf8'),
      };
      for (const id of ids) haystacks[`history of ${id}`] = await historyText(`destination-${id}`);
      const db = await database();
      for (const { name } of await db.listCollections().toArray()) {
        haystacks[`collection ${name}`] = JSON.stringify(await db.collection(name).find({}).toArray());
      }
      // The secrets really were used on the wire: the search below is looking for live values.
      expect(splunk.requests.some((r) => r.headers.authorization === `Splunk ${destinations[0].fields.token}`)).toBe(true);
      expect(haystacks['service log'].length).toBeGreaterThan(0);
      expect(haystacks['collection destinations']).toContain(ids[0]);
      // The checkpoint signing keys are secrets too: their seeds appear nowhere either.
      const signingKeys = readFileSync(join(stack.serviceEnv.AUDITSTREAM_DATA_DIR, 'signing.keys'), 'utf8').trim();
      secrets.push(...signingKeys.split(',').map((entry) => entry.split(':')[1]));
      expect(secrets.at(-1)).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      for (const secret of secrets) {
        for (const [where, text] of Object.entries(haystacks)) {
          expect(text.includes(secret), `${secret.slice(0, 14)}… found in ${where}`).toBe(false);
        }
      }
    } finally {
      await Promise.all([splunk.close(), datadog.close(), elastic.close(), webhook.close()]);
      await t.close();
    }
  });
});
