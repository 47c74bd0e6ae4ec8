// The console in a real browser (Debian's Chromium, driven by playwright-core) on the real
// stack: the product page's flow, literally — Settings > Audit > SIEM, Add destination, a
// provider, its endpoint and credentials, Enabled, Save — for all five providers against the
// suite's receivers; a destination going degraded and coming back; test connection; edit
// without re-typing credentials; disable; delete; a validation error at its field; another
// tenant seeing nothing; sign-out, CSRF, CSP; keyboard use, axe-core, phone and desktop width.
// Screenshots of the main states go to .build/screenshots/ on every run.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/stack/local.js';
import { closeClients, connectJson, issueKey, stack } from '../support/clients.js';
import { startFakeDatadog, type FakeDatadog } from '../support/fakes/datadog.js';
import { startMoto, type Moto } from '../support/fakes/moto.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/receiver.js';
import { hecTokens, readHecRecords } from '../support/vendors/splunk-hec.js';
import { eventually } from '../support/wait.js';

const browserPath = '/usr/bin/chromium';
const haveBrowser = existsSync(browserPath);
if (!haveBrowser && process.env.CI === 'true') throw new Error(`${browserPath} is missing: the console's browser tests cannot run (npm test installs Debian's chromium with apt when it can)`);
const screenshots = join(projectRoot, '.build', 'screenshots');

let browser: Browser;
let context: BrowserContext;
let page: Page;
let key: string;
let tenantId: string;
let webhook: WebhookReceiver;
let webhookSecret: string;
let datadog: FakeDatadog;
let moto: Moto;

const launch = () =>
  chromium.launch({
    executablePath: browserPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });

beforeAll(async () => {
  if (!haveBrowser) return;
  mkdirSync(screenshots, { recursive: true });
  tenantId = `tenant-console-${randomUUID().slice(0, 8)}`;
  key = await issueKey(tenantId);
  webhookSecret = `whsec-like-${randomUUID()}`;
  [browser, webhook, datadog, moto] = await Promise.all([
    launch(),
    startWebhookReceiver(stack.pki, webhookSecret),
    startFakeDatadog(stack.pki, 'dd-console-key-0123'),
    startMoto(stack.pki, stack.dir),
  ]);
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15_000);
  page = await context.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all([webhook?.close(), datadog?.close(), moto?.process.stop()]);
  await closeClients();
});

/** An absolute time as the console writes it: "4 Dec 2026, 02:43:10 UTC". */
const absoluteTime = /\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}:\d{2} [A-Z][A-Za-z0-9+:-]*/;

/** Polls until the value matches: the page refreshes itself every few seconds. */
const poll = <T>(probe: () => Promise<T> | T, options: { timeout?: number } = {}) => expect.poll(probe, { timeout: 15_000, interval: 100, ...options });
const shot = (name: string, target = page) => target.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
const card = (name: string, target = page) => target.locator('li.card').filter({ has: target.getByRole('heading', { name, exact: true }) });
const publish = (events: { id: string }[]) => connectJson(key, 'EventService', 'PublishEvents', { events: events.map((e) => ({ ...e, action: 'console.test' })) });

async function signIn(target: Page, apiKey: string): Promise<void> {
  await target.goto(`${stack.httpUrl}/console/`);
  await target.getByLabel('API key').fill(apiKey);
  await target.getByRole('button', { name: 'Sign in' }).click();
  await target.getByRole('heading', { name: 'SIEM destinations' }).waitFor();
}

/** The product page's flow: Add destination, select a provider, endpoint and credentials, Enabled, Save. */
async function addDestination(provider: string, fields: Record<string, string>, name: string): Promise<void> {
  await page.getByRole('button', { name: 'Add destination' }).click();
  await page.getByLabel('Provider').selectOption(provider);
  await page.getByLabel('Name').fill(name);
  for (const [id, value] of Object.entries(fields)) await page.locator(`#f-${id}`).fill(value);
  expect(await page.getByRole('switch', { name: 'Enabled' }).isChecked()).toBe(true);
  await page.getByRole('button', { name: 'Save' }).click();
  await card(name).waitFor();
}

const badge = (name: string) => card(name).locator('.badge');
const fact = (name: string, term: string) => card(name).locator('.facts div').filter({ has: page.locator('dt', { hasText: new RegExp(`^${term}$`) }) }).locator('dd');

describe.skipIf(!haveBrowser)('the console (Chromium)', () => {
  it('signs in with a manage key for an HttpOnly, SameSite=Strict session; the page keeps no key; strict CSP', async () => {
    const response = await page.goto(`${stack.httpUrl}/console/`);
    const csp = response!.headers()['content-security-policy'];
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    await shot('sign-in');
    await page.getByLabel('API key').fill('ask_not-a-real-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await poll(() => page.locator('#signin-error').textContent()).toBe('this API key is not valid (unknown or revoked)');

    await signIn(page, key);
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'auditstream_session', httpOnly: true, sameSite: 'Strict' });
    expect(cookie.value).not.toContain(key);
    expect(await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }))).toBe('{}{}');
    expect(await page.getByRole('navigation', { name: 'Console' }).innerText()).toMatch(/Settings\s+Audit\s+SIEM/);
    await poll(() => page.getByRole('link', { name: 'SIEM' }).getAttribute('aria-current')).toBe('page');
    // A call with the cookie but without the session's CSRF token is refused.
    const forged = await page.evaluate(async () => {
      const answer = await fetch('/auditstream.v1.DestinationService/ListDestinations', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      return { status: answer.status, body: await answer.json() };
    });
    expect(forged).toEqual({ status: 403, body: { code: 'permission_denied', message: "a console call must carry the session's x-csrf-token header" } });
  });

  it('shows an API error next to the field it concerns, in the API’s words', async () => {
    await page.getByRole('button', { name: 'Add destination' }).click();
    await page.getByLabel('Provider').selectOption('webhook');
    await page.getByRole('heading', { name: 'Set up Custom webhook' }).waitFor({ state: 'visible' });
    await page.locator('#f-endpoint').fill('http://siem.example.com/hook');
    await page.locator('#f-secret').fill('a-secret-0123456789');
    await page.getByRole('button', { name: 'Save' }).click();
    await poll(() => page.locator('#f-endpoint-error').textContent()).toBe('endpoint must be an https URL (got http://)');
    await poll(() => page.locator('#f-endpoint').getAttribute('aria-invalid')).toBe('true');
    await page.locator('#f-endpoint').fill(webhook.url);
    // Corrected, the field's error goes at once, before the next Save.
    expect(await page.locator('#f-endpoint-error').textContent()).toBe('');
    expect(await page.locator('#f-endpoint').getAttribute('aria-invalid')).toBeNull();
    await page.locator('#f-secret').fill('');
    await page.getByRole('button', { name: 'Save' }).click();
    await poll(() => page.locator('#f-secret-error').textContent()).toBe('webhook destinations need secret');
    await shot('validation-error');
    await page.getByRole('button', { name: 'Cancel' }).click();
  });

  it('tests a draft before saving it', async () => {
    await page.getByRole('button', { name: 'Add destination' }).click();
    await page.getByLabel('Provider').selectOption('webhook');
    await page.locator('#f-endpoint').fill(webhook.url);
    await page.locator('#f-secret').fill('the-wrong-secret-0123');
    await page.getByRole('button', { name: 'Test connection' }).click();
    await poll(() => page.locator('form .result').textContent()).toBe('Test failed (config): webhook answered HTTP 401: invalid signature');
    await page.locator('#f-secret').fill(webhookSecret);
    await page.getByRole('button', { name: 'Test connection' }).click();
    await poll(() => page.locator('form .result').textContent()).toMatch(/^Test event accepted/);
    await page.getByRole('button', { name: 'Cancel' }).click();
  });

  it('adds one destination of each provider, and each streams an event published afterwards', async () => {
    await addDestination('webhook', { endpoint: webhook.url, secret: webhookSecret }, 'Webhook receiver');
    await addDestination('splunk', { endpoint: stack.vendors.hec.plainUrl, token: hecTokens.plain }, 'Splunk HEC');
    await addDestination('datadog', { endpoint: `${datadog.url}/api/v2/logs`, token: 'dd-console-key-0123' }, 'Datadog intake');
    await addDestination('elastic', { endpoint: stack.vendors.elasticsearchTls, token: 'not-checked', 'settings-index': 'logs-auditstream-console' }, 'Elasticsearch');
    await addDestination(
      'cloudwatch',
      { endpoint: moto.url, access_key_id: 'AKIACONSOLE000000001', secret_access_key: 'console-secret-key-0123456789', 'settings-region': 'eu-west-1', 'settings-log_group': '/auditstream/console', 'settings-log_stream': 'tenant' },
      'CloudWatch Logs',
    );
    await page.getByText('Added CloudWatch Logs: events stream to it now.').waitFor({ state: 'visible' });
    expect(await publish([{ id: 'console-e2e-1' }])).toMatchObject({ status: 200 });
    // Each also got the tenant's audit events of the destinations created after it (never its own).
    const expected = { 'Webhook receiver': '5', 'Splunk HEC': '4', 'Datadog intake': '3', Elasticsearch: '2', 'CloudWatch Logs': '1' };
    for (const [name, delivered] of Object.entries(expected)) {
      await poll(() => fact(name, 'Delivered').textContent(), { timeout: 30_000 }).toBe(delivered);
      await poll(() => badge(name).textContent()).toBe('Active');
    }
    expect(webhook.serviceEvents().map((event) => event.action)).toEqual(Array(4).fill('siem.destination.created'));
    // (The draft tested above left its marked test event too.)
    expect(webhook.acceptedEventIds().filter((id) => !id.startsWith('auditstream-test-'))).toEqual(['console-e2e-1']);
    expect(readHecRecords(stack.vendors.hec.outputs.plain).some((record) => record.event.id === 'console-e2e-1')).toBe(true);
    expect(datadog.items.some((item) => item.evt?.id === 'console-e2e-1')).toBe(true);
    // Times are absolute, with their time zone, the relative one beside them.
    await poll(() => fact('Webhook receiver', 'Last delivery').textContent()).toMatch(new RegExp(`^${absoluteTime.source} \\((just now|\\d+ s ago|\\d+ min ago)\\)$`));
    await shot('destinations');
  }, 120_000);

  it('labels credentials in the product page’s words', async () => {
    await page.getByRole('button', { name: 'Add destination' }).click();
    const labels: Record<string, string[]> = { splunk: ['HEC token'], datadog: ['API key'], elastic: ['API key'], cloudwatch: ['Access key ID', 'Secret access key'], webhook: ['Shared secret'] };
    for (const [provider, expected] of Object.entries(labels)) {
      await page.getByLabel('Provider').selectOption(provider);
      expect(await page.locator('fieldset', { hasText: 'Credentials' }).locator('label').allTextContents(), provider).toEqual(expected);
    }
    await page.getByRole('button', { name: 'Cancel' }).click();
  });

  it('works in two tabs at once: a page opened in another tab leaves this one signed in and current', async () => {
    const other = await context.newPage();
    try {
      await other.goto(`${stack.httpUrl}/console/`);
      await other.getByRole('heading', { name: 'SIEM destinations' }).waitFor();
      // A change made in the other tab shows here, and this tab can still change things itself.
      await card('CloudWatch Logs', other).getByRole('button', { name: 'Edit CloudWatch Logs' }).click();
      await other.getByLabel('Name').fill('CloudWatch (from the other tab)');
      await other.getByRole('button', { name: 'Save' }).click();
      await card('CloudWatch (from the other tab)').waitFor();
      await card('CloudWatch (from the other tab)').getByRole('button', { name: 'Edit CloudWatch (from the other tab)' }).click();
      await page.getByLabel('Name').fill('CloudWatch Logs');
      await page.getByRole('button', { name: 'Save' }).click();
      await card('CloudWatch Logs', other).waitFor();
      await page.getByText('Saved CloudWatch Logs.').waitFor({ state: 'visible' });
    } finally {
      await other.close();
    }
  });

  it('says when it is offline, marks what it shows as stale, and recovers by itself whatever was done meanwhile', async () => {
    await card('Webhook receiver').waitFor();
    // The service unreachable from this page: every API call fails as a stopped service's would.
    await page.route('**/auditstream.v1.DestinationService/**', (route) => route.abort('connectionrefused'));
    try {
      await page.locator('#offline').waitFor({ state: 'visible' });
      expect(await page.locator('#offline').textContent()).toMatch(new RegExp(`^Offline: the auditstream service cannot be reached\\. What is shown was last updated ${absoluteTime.source}\\. Trying again every 3 seconds\\.$`));
      expect(await page.locator('#destinations').getAttribute('class')).toContain('stale');
      // What a user does meanwhile: try to add a destination, then give up.
      await page.getByRole('button', { name: 'Add destination' }).click();
      await page.getByLabel('Provider').selectOption('webhook');
      await page.locator('#f-endpoint').fill(webhook.url);
      await page.locator('#f-secret').fill(webhookSecret);
      await page.getByRole('button', { name: 'Save' }).click();
      await poll(() => page.locator('.form-error').textContent()).toMatch(/^The auditstream service cannot be reached/);
      await page.getByRole('button', { name: 'Cancel' }).click();
      await page.locator('#offline').waitFor({ state: 'visible' });
      await shot('offline');
    } finally {
      await page.unroute('**/auditstream.v1.DestinationService/**');
    }
    // Back: the list fills and is current again, with no reload.
    await page.locator('#offline').waitFor({ state: 'hidden', timeout: 15_000 });
    await card('Webhook receiver').waitFor();
    expect(await page.locator('#destinations').getAttribute('class')).not.toContain('stale');
  });

  it('shows a failing destination degraded with its reason and the time left, then active again by itself', async () => {
    webhook.respondWith(() => ({ status: 503, body: 'maintenance' }));
    await publish([{ id: 'console-degraded-1' }]);
    await poll(() => badge('Webhook receiver').textContent(), { timeout: 20_000 }).toBe('Degraded');
    await shot('degraded');
    await poll(() => card('Webhook receiver').locator('.reason').textContent()).toBe('webhook answered HTTP 503: maintenance');
    // The time left in the retry window (the suite's service runs with a short one).
    await poll(() => fact('Webhook receiver', 'Retry window').textContent()).toMatch(new RegExp(`^dropped ${absoluteTime.source} \\(in (less than a minute|\\d+ min|\\d+ h( \\d+ min)?)\\)$`));
    await poll(() => fact('Webhook receiver', 'Backlog').textContent()).toBe('1 event');
    // The picture in README (docs/console.png is a copy of one run's).
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(screenshots, 'readme.png'), clip: { x: 0, y: 0, width: 1280, height: 540 } });
    webhook.respondWith(() => ({ status: 200 }));
    await poll(() => badge('Webhook receiver').textContent(), { timeout: 30_000 }).toBe('Active');
    // 5 before, this test's event, and the two renames of the two-tab test (service events).
    await poll(() => fact('Webhook receiver', 'Delivered').textContent()).toBe('8');
  }, 60_000);

  it('tests a saved destination, and edits it without re-typing its credentials', async () => {
    await card('Webhook receiver').getByRole('button', { name: 'Test connection Webhook receiver' }).click();
    await poll(() => card('Webhook receiver').locator('.result').textContent()).toMatch(/^Test event accepted/);
    const badBefore = webhook.badSignatures.length; // the draft tested with a wrong secret left one
    await card('Webhook receiver').getByRole('button', { name: 'Edit Webhook receiver' }).click();
    expect(await page.locator('#f-secret').inputValue()).toBe('');
    expect(await page.locator('#f-secret').getAttribute('placeholder')).toMatch(/^Unchanged \(••••.{4}\); type to replace$/);
    await page.getByLabel('Name').fill('Webhook (renamed)');
    await page.getByRole('button', { name: 'Save' }).click();
    await card('Webhook (renamed)').waitFor();
    await publish([{ id: 'console-after-edit' }]);
    await webhook.waitForEvents(3);
    expect(webhook.badSignatures.length).toBe(badBefore); // still signed with the secret it had
  });

  it('disables and enables a destination from its card; nothing is sent while disabled', async () => {
    const name = 'Webhook (renamed)';
    await card(name).getByRole('switch', { name: `Enabled: ${name}` }).uncheck();
    await poll(() => badge(name).textContent()).toBe('Disabled');
    await publish([{ id: 'console-while-disabled' }]);
    await card(name).getByRole('switch', { name: `Enabled: ${name}` }).check();
    await poll(() => badge(name).textContent()).toBe('Active');
    await publish([{ id: 'console-sentinel' }]); // had the disabled-period event been sent, it would be there first
    await webhook.waitForEvents(4);
    expect(webhook.acceptedEventIds()).not.toContain('console-while-disabled');
  });

  it('backfills the disabled period from its card, counting the events before it sends them', async () => {
    const name = 'Webhook (renamed)';
    await new Promise((resolve) => setTimeout(resolve, 1_200)); // the audit log has settled past the re-enabling
    await card(name).getByRole('button', { name: `Backfill ${name}` }).click();
    const dialog = page.getByRole('dialog', { name: `Backfill ${name}` });
    await dialog.getByLabel('Which events').selectOption('disabled');
    await dialog.getByRole('button', { name: 'Count events' }).click();
    await poll(() => dialog.locator('.result').textContent()).toMatch(/^\d+ events? would be sent to Webhook \(renamed\)\.$/);
    await shot('backfill-count');
    const counted = Number(/^(\d+)/.exec((await dialog.locator('.result').textContent())!)![1]);
    expect(counted).toBeGreaterThanOrEqual(1);
    await dialog.getByRole('button', { name: 'Send them' }).click();
    await poll(() => dialog.locator('.result').textContent(), { timeout: 20_000 }).toBe(`Backfill done: ${counted} of ${counted} sent.`);
    const replayed = webhook.accepted.flatMap((delivery) => delivery.events).filter((event) => event.replay !== undefined);
    expect(replayed.map((event) => event.id)).toContain('console-while-disabled');
    expect(replayed).toHaveLength(counted);
    await dialog.getByRole('button', { name: 'Close' }).click();
  });

  it('sets a destination’s filters in its form, shows them on its card, and says under the field what is wrong with them', async () => {
    const name = 'Webhook (renamed)';
    const save = async (filters: string) => {
      await card(name).getByRole('button', { name: `Edit ${name}` }).click();
      await page.getByLabel('Filters (optional)').fill(filters);
      await page.getByRole('button', { name: 'Save' }).click();
    };
    await save('[{"prefix": {"action": "console.kept"}');
    await poll(() => page.locator('#f-filters-error').textContent()).toMatch(/^filters are not JSON \(.+\): write a list such as \[\{"prefix": \{"action": "user\."\}\}\], or leave it empty$/);
    await page.getByLabel('Filters (optional)').fill('[{"exakt": {"action": "console.kept"}}]');
    await page.getByRole('button', { name: 'Save' }).click();
    await poll(() => page.locator('#f-filters-error').textContent()).toBe('filters[0]: "exakt" is not a filter dialect; use one of exact, prefix, suffix, all, any, not');
    expect(await page.getByLabel('Filters (optional)').getAttribute('aria-invalid')).toBe('true');
    await page.getByLabel('Filters (optional)').fill('[{"prefix": {"action": "console.kept"}}]');
    await page.getByRole('button', { name: 'Save' }).click();
    await poll(() => fact(name, 'Receives').textContent()).toBe('[{"prefix":{"action":"console.kept"}}]');
    await shot('filters');

    await connectJson(key, 'EventService', 'PublishEvents', { events: [{ id: 'console-filtered-out', action: 'console.test' }, { id: 'console-kept', action: 'console.kept' }] });
    await poll(() => webhook.acceptedEventIds().includes('console-kept')).toBe(true);
    expect(webhook.acceptedEventIds()).not.toContain('console-filtered-out');

    // Emptied, the destination receives every event again.
    await save('');
    await poll(() => fact(name, 'Receives').textContent()).toBe('every event');
  });

  it('sets a destination’s masking in its form: one field and drop or hmac per line, refused in the API’s words under the field', async () => {
    const name = 'Webhook (renamed)';
    await card(name).getByRole('button', { name: `Edit ${name}` }).click();
    await page.getByLabel('Masking (optional)').fill('actor.ip');
    await page.getByRole('button', { name: 'Save' }).click();
    await poll(() => page.locator('#f-masking-error').textContent()).toBe('masking: line 1 should be a field and drop or hmac, such as "actor.ip hmac"');
    await page.getByLabel('Masking (optional)').fill('actor.ip hmac\noutcome drop');
    await page.getByRole('button', { name: 'Save' }).click();
    await poll(() => page.locator('#f-masking-error').textContent()).toMatch(/^masking\.rules\[1\]\.field: "outcome" cannot be masked; use one of /);
    await page.getByLabel('Masking (optional)').fill('actor.ip hmac\nmetadata.card drop');
    await page.getByRole('button', { name: 'Save' }).click();
    await poll(() => fact(name, 'Masks').textContent()).toBe('actor.ip (hmac), metadata.card (drop)');
    expect(await fact(name, 'Format').textContent()).toBe('auditstream JSON');
    await connectJson(key, 'EventService', 'PublishEvents', { events: [{ id: 'console-masked', action: 'console.test', actor: { ip: '198.51.100.23' }, metadata: { card: '4111' } }] });
    const [delivered] = await eventually(async () => webhook.accepted.flatMap((delivery) => delivery.events).filter((event) => event.id === 'console-masked'), (found) => found.length === 1);
    expect(delivered.actor).toEqual({ ip: expect.stringMatching(/^hmac_/) });
    expect(delivered.metadata).toEqual({});

    // In OCSF, from the next delivery on; then back.
    const format = async (label: string) => {
      await card(name).getByRole('button', { name: `Edit ${name}` }).click();
      await page.getByLabel('Format').selectOption({ label });
      await page.getByRole('button', { name: 'Save' }).click();
    };
    await format('OCSF 1.3.0 (API Activity, class 6003)');
    await poll(() => fact(name, 'Format').textContent()).toBe('OCSF (API Activity)');
    await connectJson(key, 'EventService', 'PublishEvents', { events: [{ id: 'console-ocsf', action: 'console.create', outcome: 'success', actor: { id: 'u-1' } }] });
    const [ocsf] = await eventually(async () => webhook.accepted.flatMap((delivery) => delivery.events).filter((event) => (event.metadata as { uid?: string } | undefined)?.uid === 'console-ocsf'), (found) => found.length === 1);
    expect(ocsf).toMatchObject({ class_uid: 6003, activity_id: 1, actor: { user: { uid: 'u-1' } } });
    await format('auditstream JSON (the API’s AuditEvent)');
    await poll(() => fact(name, 'Format').textContent()).toBe('auditstream JSON');
  });

  it('says when a new credential was refused and the previous one goes on delivering', async () => {
    const edit = async (token: string) => {
      await card('Splunk HEC').getByRole('button', { name: 'Edit Splunk HEC' }).click();
      await page.getByLabel('HEC token').fill(token);
      await page.getByRole('button', { name: 'Save' }).click();
    };
    await edit('hec-token-nobody-issued-0123456789');
    await poll(() => page.locator('#list-notice').textContent()).toMatch(
      /^Saved Splunk HEC, but new credential refused: Splunk rejected the token: .+; still delivering with the previous one \(the previous one is kept until .+, or until the destination accepts the new one\)\.$/,
    );
    await edit(hecTokens.plain);
    await poll(() => page.locator('#list-notice').textContent()).toBe('Saved Splunk HEC.');
  });

  it('deletes with confirmation and shows what the flush delivered and dropped', async () => {
    await poll(() => fact('Datadog intake', 'Backlog').textContent()).toBe('0 events');
    await card('Datadog intake').getByRole('button', { name: 'Delete Datadog intake' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete Datadog intake?' });
    await dialog.waitFor({ state: 'visible' });
    await shot('delete-confirmation');
    await dialog.getByRole('button', { name: 'Delete' }).click();
    // What was still buffered (the service's own events keep arriving) is flushed before the delete completes.
    await poll(() => page.locator('#list-notice').textContent()).toMatch(/^Deleted Datadog intake: \d+ buffered events? flushed, 0 dropped\.$/);
    await poll(() => card('Datadog intake').count()).toBe(0);
  });

  it('is usable with the keyboard alone, and axe-core finds no violations, at desktop and phone width', async () => {
    const keyboard = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true }); // CSP bypassed only to inject axe
    keyboard.setDefaultTimeout(15_000);
    const tab = await keyboard.newPage();
    await signIn(tab, key);
    const axe = readFileSync(join(projectRoot, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
    const violations = async (target: Page) => {
      await target.addScriptTag({ content: axe });
      return target.evaluate(async () => {
        const result = await (window as unknown as { axe: { run: (options: object) => Promise<{ violations: { id: string; nodes: unknown[] }[] }> } }).axe.run({ resultTypes: ['violations'] });
        return result.violations.map((v) => `${v.id} (${v.nodes.length})`);
      });
    };
    expect(await violations(tab)).toEqual([]);
    // Keyboard only: reach "Add destination" by Tab, open it with Enter, fill and cancel.
    let focused = '';
    for (let i = 0; i < 40 && focused !== 'Add destination'; i++) {
      await tab.keyboard.press('Tab');
      focused = await tab.evaluate(() => document.activeElement?.textContent ?? '');
    }
    expect(focused).toBe('Add destination');
    await tab.keyboard.press('Enter');
    await tab.getByRole('heading', { name: 'Add destination' }).waitFor({ state: 'visible' });
    expect(await tab.evaluate(() => document.activeElement?.id)).toBe('f-provider');
    expect(await violations(tab)).toEqual([]);
    for (const width of [375, 1280]) {
      await tab.setViewportSize({ width, height: 800 });
      await tab.getByRole('button', { name: 'Cancel' }).click();
      await tab.getByRole('heading', { name: 'SIEM destinations' }).waitFor();
      const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, `horizontal overflow at ${width}px`).toBeLessThanOrEqual(0);
      expect(await violations(tab)).toEqual([]);
      if (width === 375) await shot('phone', tab);
      await tab.getByRole('button', { name: 'Add destination' }).click();
    }
    // Every provider's form at phone width: its setup steps (long URLs among them) wrap.
    await tab.setViewportSize({ width: 375, height: 800 });
    for (const provider of ['splunk', 'datadog', 'elastic', 'cloudwatch', 'webhook']) {
      await tab.getByLabel('Provider').selectOption(provider);
      expect(await tab.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth), `horizontal overflow of the ${provider} form at 375px`).toBeLessThanOrEqual(0);
    }
    // A card's dialogs at phone width: no sideways scroll, nothing for axe.
    await tab.getByRole('button', { name: 'Cancel' }).click();
    const firstCard = tab.locator('li.card').first();
    for (const [button, close] of [['Backfill', 'Close'], ['Delete', 'Cancel']]) {
      await firstCard.getByRole('button', { name: new RegExp(`^${button} `) }).click();
      const dialog = tab.getByRole('dialog');
      await dialog.waitFor();
      expect(await tab.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth), `horizontal overflow of the ${button} dialog at 375px`).toBeLessThanOrEqual(0);
      expect(await violations(tab)).toEqual([]);
      await dialog.getByRole('button', { name: close, exact: true }).click();
    }
    // The offline state (banner, stale list) at both widths, and a degraded card beside it.
    webhook.respondWith(() => ({ status: 503, body: 'maintenance' }));
    await publish([{ id: 'console-axe-degraded' }]);
    await poll(() => tab.locator('li.card .badge.degraded').count(), { timeout: 20_000 }).toBeGreaterThan(0);
    await tab.route('**/auditstream.v1.DestinationService/**', (route) => route.abort('connectionrefused'));
    await tab.locator('#offline').waitFor({ state: 'visible' });
    for (const width of [375, 1280]) {
      await tab.setViewportSize({ width, height: 800 });
      expect(await tab.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth), `horizontal overflow offline at ${width}px`).toBeLessThanOrEqual(0);
      expect(await violations(tab)).toEqual([]);
    }
    await tab.unroute('**/auditstream.v1.DestinationService/**');
    await tab.locator('#offline').waitFor({ state: 'hidden' });
    webhook.respondWith(() => ({ status: 200 }));
    // Audit > Logs by keyboard: Tab to the search box, type, Enter; Tab to a row, Enter opens it, Escape closes it.
    await tab.getByRole('link', { name: 'Logs' }).click();
    await tab.getByRole('heading', { name: 'Audit log' }).waitFor();
    await tab.setViewportSize({ width: 1280, height: 800 });
    const tabUntil = async (done: () => Promise<boolean>) => {
      for (let i = 0; i < 60 && !(await done()); i++) await tab.keyboard.press('Tab');
      expect(await done()).toBe(true);
    };
    await tabUntil(() => tab.evaluate(() => document.activeElement?.id === 'logs-search'));
    await tab.keyboard.type('action:siem.*');
    await tab.keyboard.press('Enter');
    await poll(() => tab.locator('table.events tbody tr').count()).toBeGreaterThan(0);
    await tabUntil(() => tab.evaluate(() => document.activeElement?.classList.contains('link') ?? false));
    await tab.keyboard.press('Enter');
    await tab.getByRole('dialog').waitFor();
    await tab.keyboard.press('Escape');
    await tab.getByRole('dialog').waitFor({ state: 'detached' });
    // Audit > Logs, and an event's details, at both widths.
    for (const width of [375, 1280]) {
      await tab.setViewportSize({ width, height: 800 });
      expect(await tab.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth), `horizontal overflow of Logs at ${width}px`).toBeLessThanOrEqual(0);
      expect(await violations(tab)).toEqual([]);
      await tab.locator('table.events tbody button.link').first().click();
      await tab.getByRole('dialog').waitFor();
      expect(await violations(tab)).toEqual([]);
      await tab.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
    }
    // Audit > Exports and Retention, at both widths.
    for (const [link, heading] of [['Exports', 'Exports'], ['Retention', 'Retention']]) {
      await tab.getByRole('link', { name: link }).click();
      await tab.getByRole('heading', { name: heading, exact: true }).waitFor();
      for (const width of [375, 1280]) {
        await tab.setViewportSize({ width, height: 800 });
        expect(await tab.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth), `horizontal overflow of ${link} at ${width}px`).toBeLessThanOrEqual(0);
        expect(await violations(tab)).toEqual([]);
      }
    }
    await keyboard.close();
  }, 60_000);

  it("shows another tenant none of this tenant's destinations", async () => {
    const other = await browser.newContext();
    other.setDefaultTimeout(15_000);
    const otherPage = await other.newPage();
    await signIn(otherPage, await issueKey(`tenant-console-other-${randomUUID().slice(0, 8)}`));
    await otherPage.getByText('No destinations yet. Add one to start streaming.').waitFor({ state: 'visible' });
    await poll(() => otherPage.locator('li.card').count()).toBe(0);
    await other.close();
  });

  it('Audit > Logs: searches the log with qualifiers or filter fields, newest first or in acceptance order, times in the browser’s zone or UTC, each event whole', async () => {
    const published = await connectJson(key, 'EventService', 'PublishEvents', {
      events: [
        { id: 'logs-1', action: 'user.login', outcome: 'success', actor: { id: 'u-42', ip: '203.0.113.9' }, resource: { type: 'document', id: 'doc-1' } },
        { id: 'logs-2', action: 'user.logout', outcome: 'failure', actor: { id: 'u-42', ip: '203.0.113.9' } },
        { id: 'logs-3', action: 'user.login', outcome: 'failure', actor: { id: 'u-7', ip: '198.51.100.4' } },
      ],
    });
    expect(published.status).toBe(200);
    // A browser in New York: times shown in its zone, switchable to UTC.
    const york = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'America/New_York' });
    york.setDefaultTimeout(15_000);
    await york.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.httpUrl });
    const tab = await york.newPage();
    try {
      await signIn(tab, key);
      await tab.getByRole('link', { name: 'Logs' }).click();
      await tab.getByRole('heading', { name: 'Audit log' }).waitFor();
      expect(await tab.getByRole('link', { name: 'Logs' }).getAttribute('aria-current')).toBe('page');
      const ids = () => tab.locator('table.events tbody tr').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.id));
      const search = async (text: string) => {
        await tab.getByLabel('Search', { exact: true }).fill(text);
        await tab.getByRole('button', { name: 'Search', exact: true }).click();
      };
      // Newest first by default (the log shows the newest flush once it settled: ask again until it is there).
      await poll(async () => {
        await search('action:user.*');
        await tab.waitForFunction(() => document.getElementById('logs-status')?.textContent !== 'Loading…');
        return ids();
      }).toEqual(['logs-3', 'logs-2', 'logs-1']);
      const first = tab.locator('table.events tbody tr').first();
      expect(await first.locator('td').allTextContents()).toEqual([
        expect.stringMatching(new RegExp(`^${absoluteTime.source}, details of event logs-3$`)),
        'u-7',
        'user.login',
        '',
        'failure',
        '198.51.100.4',
      ]);
      expect(await first.locator('.time').textContent()).toMatch(/ GMT-5$/);
      expect(await tab.locator('#logs-zone').textContent()).toBe('Times shown in America/New_York');
      await tab.getByRole('switch', { name: 'Times in UTC' }).check();
      expect(await first.locator('.time').textContent()).toMatch(/ UTC$/);
      await shot('logs', tab);
      // Qualifiers together, in acceptance order.
      await tab.getByLabel('Order').selectOption('oldest');
      await search('actor:u-42 outcome:failure');
      await poll(ids).toEqual(['logs-2']);
      await search('action:user.login');
      await poll(ids).toEqual(['logs-1', 'logs-3']);
      await search('actor:u-42 -outcome:success');
      await poll(ids).toEqual(['logs-2']);
      // What cannot be read is said in plain words, next to the box.
      await search('who:u-42');
      await poll(() => tab.locator('#logs-search-error').textContent()).toBe('"who:" is not a qualifier; use action: actor: resource: resource_type: outcome: created:');
      // The filter fields write the search string.
      await tab.locator('summary', { hasText: 'Filters' }).click();
      await tab.getByLabel('Actor').fill('u-7');
      await tab.getByRole('button', { name: 'Apply filters' }).click();
      expect(await tab.getByLabel('Search', { exact: true }).inputValue()).toBe('actor:u-7');
      await poll(ids).toEqual(['logs-3']);
      // The service's own events are there, and filterable.
      await search('action:siem.destination.created');
      await poll(async () => (await ids()).length).toBeGreaterThanOrEqual(5); // the five this file's tests created
      // A row opens the whole event as JSON, which copies.
      await search('resource:doc-1');
      await poll(ids).toEqual(['logs-1']);
      await tab.getByRole('button', { name: 'details of event logs-1' }).click();
      const dialog = tab.getByRole('dialog');
      const json = JSON.parse((await dialog.locator('pre.json').textContent())!);
      expect(json).toMatchObject({ id: 'logs-1', action: 'user.login', outcome: 'success', actor: { id: 'u-42', ip: '203.0.113.9' }, resource: { type: 'document', id: 'doc-1' } });
      await dialog.getByRole('button', { name: 'Copy JSON' }).click();
      await poll(() => dialog.locator('.result').textContent()).toBe('Copied.');
      expect(JSON.parse(await tab.evaluate(() => navigator.clipboard.readText()))).toEqual(json);
      await shot('logs-event', tab);
      await dialog.getByRole('button', { name: 'Close' }).click();
      // At phone width the page itself never scrolls sideways (the table scrolls in its own box).
      await tab.setViewportSize({ width: 375, height: 800 });
      expect(await tab.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
      await shot('logs-phone', tab);
    } finally {
      await york.close();
    }
  }, 60_000);

  it('Audit > Exports and Retention: exports the Logs page’s results with count and SHA-256, presets with what each needs; retention and its runs', async () => {
    const downloads = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    downloads.setDefaultTimeout(15_000);
    const tab = await downloads.newPage();
    try {
      await signIn(tab, key);
      await tab.getByRole('link', { name: 'Logs' }).click();
      await tab.getByLabel('Search', { exact: true }).fill('actor:u-42');
      await tab.getByRole('button', { name: 'Search', exact: true }).click();
      await poll(() => tab.locator('table.events tbody tr').count()).toBe(2);
      await tab.getByRole('button', { name: 'Export these results' }).click();
      await tab.getByRole('heading', { name: 'Exports', exact: true }).waitFor();
      expect(await tab.getByLabel('Events').inputValue()).toBe('actor:u-42');
      expect(await tab.getByLabel('Data subject (their actor or resource id)').isVisible()).toBe(false); // only GDPR access asks for it
      expect(await tab.getByRole('link', { name: 'Exports' }).getAttribute('aria-current')).toBe('page');
      await tab.getByRole('button', { name: 'Start export' }).click();
      const job = tab.locator('#exports li.card').first();
      const jobFact = (term: string) => job.locator('.facts div').filter({ has: tab.locator('dt', { hasText: new RegExp(`^${term}$`) }) }).locator('dd');
      await poll(() => jobFact('State').textContent(), { timeout: 30_000 }).toBe('ready');
      expect(await jobFact('Events').textContent()).toBe('2');
      const sha256 = (await jobFact('SHA-256').textContent())!;
      expect(sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(await jobFact('Expires').textContent()).toMatch(new RegExp(`^${absoluteTime.source}$`));
      await shot('exports', tab);
      const [download] = await Promise.all([tab.waitForEvent('download'), job.getByRole('button', { name: /^Download export/ }).click()]);
      const file = readFileSync((await download.path())!);
      expect(createHash('sha256').update(file).digest('hex')).toBe(sha256);
      expect(gunzipSync(file).toString('utf8').trim().split('\n').map((line) => JSON.parse(line).id)).toEqual(['logs-1', 'logs-2']);
      // A preset says what it needs, and the API's refusal reads in its words.
      await tab.getByLabel('Compliance preset').selectOption('soc2');
      expect(await tab.locator('#export-needs').textContent()).toBe('Needs the audit period: created:2026-01-01..2026-12-31 in Events.');
      await tab.getByLabel('Events').fill('');
      await tab.getByRole('button', { name: 'Start export' }).click();
      await poll(() => tab.locator('#export-error').textContent()).toBe('the soc2 preset exports an audit period: give filter.occurred_after and filter.occurred_before');
      await tab.getByLabel('Compliance preset').selectOption('gdpr-access');
      await tab.getByLabel('Data subject (their actor or resource id)').waitFor({ state: 'visible' });

      await tab.getByRole('link', { name: 'Retention' }).click();
      await tab.getByRole('heading', { name: 'Retention', exact: true }).waitFor();
      await poll(() => tab.getByLabel('Keep events for (days)').inputValue()).toBe('365');
      expect(await tab.locator('#retention-runs').textContent()).toMatch(new RegExp(`Next run(${absoluteTime.source}|not scheduled yet)Last run`));
      await tab.getByLabel('Keep events for (days)').fill('400');
      await tab.getByRole('switch', { name: 'HIPAA' }).check();
      await tab.getByRole('button', { name: 'Save' }).click();
      await poll(() => tab.locator('#retention-error').textContent()).toBe(
        'HIPAA needs audit records kept six years (§164.316(b)(2)): with hipaa on, retention days must be at least 2190 (got 400)',
      );
      await tab.getByRole('switch', { name: 'HIPAA' }).uncheck();
      await tab.getByRole('button', { name: 'Save' }).click();
      await poll(() => tab.locator('form .result').textContent()).toBe('Saved.');
      expect((await connectJson(key, 'AuditLogService', 'GetRetention', {})).body.retention.days).toBe(400);
      await shot('retention', tab);
    } finally {
      await downloads.close();
    }
  }, 90_000);

  it('signs out server-side: the old cookie no longer opens anything', async () => {
    const [cookie] = await context.cookies();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You are signed out.').waitFor({ state: 'visible' });
    expect(await page.locator('#signin-error').getAttribute('class')).toBe('info'); // news, not an error
    const replayed = await fetch(`${stack.httpUrl}/console/api/session`, { headers: { cookie: `${cookie.name}=${cookie.value}` } });
    expect(replayed.status).toBe(401);
    expect(await eventually(async () => (await context.cookies()).length, (n) => n === 0)).toBe(0);
  });
});
