// Masking per destination on the real stack: what each of the five providers' receivers
// stored — the OpenTelemetry Collector's HEC receiver, Elasticsearch, moto, the Datadog intake
// and a webhook receiver — holds the tenant's token where a value was tokenised, nothing where
// a field was dropped, and never the value itself; a replay is masked the same way; MaskToken
// answers the token a SIEM search needs, per tenant.
import { describe, expect, it } from 'vitest';
import { rest, stack } from '../support/clients.js';
import { vendorFakesOfThisFile } from '../support/vendor-fakes.js';
import { newTenant } from '../support/tenant.js';
import { hecTokens, readHecRecords } from '../support/vendors/splunk-hec.js';
import { eventually } from '../support/wait.js';
import { cloudwatchMessages, elasticSources } from '../support/read-back.js';

const datadogKey = 'dd-masking-key-0123';
const fakes = vendorFakesOfThisFile(datadogKey);

const secrets = { email: 'ada.lovelace@example.com', ip: '203.0.113.77', card: '4111111111111111', agent: 'Mozilla/5.0 (secret-agent)' };
const masking = {
  rules: [
    { field: 'actor.id', action: 'hmac' },
    { field: 'actor.ip', action: 'hmac' },
    { field: 'actor.user_agent', action: 'drop' },
    { field: 'metadata.card', action: 'drop' },
  ],
};

describe('masking per destination', () => {
  it('stores, at each provider’s receiver, tokens and no masked value — live and replayed', async () => {
    const t = await newTenant();
    const webhook = await t.addWebhook({ masking } as never);
    const create = async (body: Record<string, unknown>) => {
      const created = await rest(t.key, 'POST', '/v1/audit/siem', { ...body, masking });
      expect(created.status).toBe(201);
      expect(created.body.destination.masking).toEqual(masking);
      return created.body.destination.id as string;
    };
    await create({ provider: 'splunk', endpoint: stack.vendors.hec.plainUrl, token: hecTokens.plain });
    await create({ provider: 'datadog', endpoint: `${fakes.datadog().url}/api/v2/logs`, token: datadogKey });
    await create({ provider: 'elastic', endpoint: stack.vendors.elasticsearchTls, token: 'any', settings: { index: 'logs-auditstream-masking' } });
    await create({
      provider: 'cloudwatch',
      endpoint: fakes.moto().url,
      access_key_id: 'AKIAMASKING000000001',
      secret_access_key: 'masking-secret-key-0123456789',
      settings: { region: 'eu-west-1', log_group: '/auditstream/masking', log_stream: 'tenant' },
    });

    const id = `masked-${t.id}`;
    await t.publish([
      { id, action: 'user.login', actor: { type: 'user', id: secrets.email, ip: secrets.ip, userAgent: secrets.agent }, metadata: { card: { number: secrets.card }, plan: 'pro' } },
    ]);
    const token = async (value: string) => (await rest(t.key, 'POST', '/v1/audit/siem/mask-token', { value })).body.token as string;
    const [emailToken, ipToken] = [await token(secrets.email), await token(secrets.ip)];
    expect(emailToken).toMatch(/^hmac_[A-Za-z0-9_-]{22}$/);
    expect(await token(secrets.email)).toBe(emailToken);

    const stored: Record<string, () => Promise<string[]>> = {
      webhook: async () => webhook.receiver.accepted.flatMap((delivery) => delivery.events).filter((event) => event.id === id).map((event) => JSON.stringify(event)),
      splunk: async () => readHecRecords(stack.vendors.hec.outputs.plain).filter((record) => record.event.id === id).map((record) => JSON.stringify(record)),
      datadog: async () => fakes.datadog().items.filter((item) => JSON.stringify(item).includes(id)).map((item) => JSON.stringify(item)),
      elastic: async () => (await elasticSources('logs-auditstream-masking', [id])).map((source) => JSON.stringify(source)),
      cloudwatch: async () =>
        (await cloudwatchMessages(fakes.moto(), '/auditstream/masking', 'tenant', { accessKeyId: 'AKIAMASKING000000001', secretAccessKey: 'masking-secret-key-0123456789' })).filter((message) =>
          message.includes(id),
        ),
    };
    for (const [provider, read] of Object.entries(stored)) {
      const [stored] = await eventually(read, (found) => found.length > 0, 30_000);
      // Some formats carry the event as JSON inside a string (Datadog's message): read it unescaped.
      const text = stored.replaceAll('\\"', '"');
      expect(text, provider).toContain(emailToken);
      expect(text, provider).toContain(ipToken);
      expect(text, provider).toContain('"plan":"pro"');
      for (const value of Object.values(secrets)) expect(text, provider).not.toContain(value);
    }

    // A replay of the same event leaves masked the same way.
    await new Promise((resolve) => setTimeout(resolve, 1_200)); // settled in the audit log
    const started = await rest(t.key, 'POST', `/v1/audit/siem/${webhook.id}/backfills`, { filter: { action: 'user.login' } });
    expect(started.body.count).toBe('1');
    const replayed = await eventually(
      async () => webhook.receiver.accepted.flatMap((delivery) => delivery.events).filter((event) => event.id === id && event.replay !== undefined),
      (found) => found.length === 1,
    );
    const text = JSON.stringify(replayed[0]);
    expect(text).toContain(emailToken);
    for (const value of Object.values(secrets)) expect(text).not.toContain(value);

    // Another tenant's token of the same value differs.
    const other = await newTenant();
    expect((await rest(other.key, 'POST', '/v1/audit/siem/mask-token', { value: secrets.email })).body.token).not.toBe(emailToken);
  }, 90_000);

  it('refuses rules it cannot apply, saying which and why; changes and audits them on update', async () => {
    const t = await newTenant();
    const { id } = await t.addWebhook();
    const refused = await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { masking: { rules: [{ field: 'outcome', action: 'hmac' }] } });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toBe(
      'masking.rules[0].field: "outcome" cannot be masked; use one of actor.id, actor.name, actor.ip, actor.user_agent, resource.id, resource.name, request_id, metadata.<key>',
    );
    expect((await rest(t.key, 'POST', '/v1/audit/siem/mask-token', { value: '' })).body).toEqual({ code: 'invalid_argument', message: 'value is required: the value whose token to answer' });
    const rules = [{ field: 'metadata.ssn', action: 'drop' }];
    const changed = await rest(t.key, 'PATCH', `/v1/audit/siem/${id}`, { masking: { rules } });
    expect(changed.body.destination.masking).toEqual({ rules });
    const audited = await eventually(
      async (): Promise<{ metadata: unknown }[]> => (await rest(t.key, 'GET', `/v1/audit/events?action=siem.destination.updated&resource_id=${id}`)).body.events ?? [],
      (found) => found.length === 1,
    );
    expect(audited[0].metadata).toMatchObject({ changed: ['masking'], masking: rules, previousMasking: [] });
  });
});
