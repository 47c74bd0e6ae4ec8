// The console's one page, Settings > Audit > SIEM: a browser client of the service's own API
// over Connect JSON (same origin), signed in with an HttpOnly session cookie; the CSRF token
// lives in memory only, and no API key is ever stored by the page.
import { Code, ConnectError, createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { ListValueSchema, timestampDate, timestampFromDate, type ListValue, type Timestamp } from '@bufbuild/protobuf/wkt';
import { fromJson, toJson, toJsonString } from '@bufbuild/protobuf';
import { AuditLogService, type Export, type Retention } from '../../src/gen/auditstream/v1/audit_pb.js';
import { DestinationService, type Destination, type Masking, type ProviderField, type ProviderInfo } from '../../src/gen/auditstream/v1/destinations_pb.js';
import { AuditEventSchema, type AuditEvent } from '../../src/gen/auditstream/v1/events_pb.js';
import { absoluteTime, fieldOfError, plural, timeAgo, timeLeft } from './format.js';
import { formatSearch, parseSearch, SearchError, type SearchFilter } from './search.js';

interface Session {
  tenant: string;
  csrfToken: string;
}

let session: Session | undefined;
let providers: ProviderInfo[] = [];
let poll: number | undefined;

const withCsrf: Interceptor = (next) => (request) => {
  if (session) request.header.set('x-csrf-token', session.csrfToken);
  return next(request);
};
const transport = createConnectTransport({ baseUrl: location.origin, interceptors: [withCsrf], fetch: (input, init) => fetch(input, { ...init, credentials: 'same-origin' }) });
const api = createClient(DestinationService, transport);
const auditApi = createClient(AuditLogService, transport);

// ---- DOM helpers ----

type Child = Node | string | false | undefined;
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) if (child !== undefined && child !== false) element.append(child);
  return element;
}
const $ = <T extends HTMLElement>(selector: string, root: ParentNode = document) => root.querySelector<T>(selector)!;
const announce = (text: string) => {
  const announcer = $('#announcer');
  announcer.textContent = '';
  setTimeout(() => (announcer.textContent = text), 50);
};
const date = (value: Timestamp | undefined) => (value ? timestampDate(value) : undefined);
const absolute = (at: Date) => absoluteTime(at, Intl.DateTimeFormat().resolvedOptions().timeZone);
const camel = (apiName: string) => apiName.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
/** Whether a call failed because the service could not be reached at all (no answer). */
const unreachable = (error: unknown) =>
  error instanceof TypeError || (error instanceof ConnectError && (error.code === Code.Unknown || error.code === Code.Unavailable) && /fetch|network/i.test(error.rawMessage));
const message = (error: unknown) =>
  unreachable(error)
    ? 'The auditstream service cannot be reached (it may be restarting, or this network is down). Nothing was changed; try again in a moment.'
    : error instanceof ConnectError
      ? error.rawMessage
      : error instanceof Error
        ? error.message
        : String(error);

/** Any call can find the session over: back to the sign-in page, saying so. */
async function call<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ConnectError && error.code === Code.Unauthenticated) {
      signedOut('Your session has ended. Sign in again.');
    }
    throw error;
  }
}

// ---- sign-in ----

async function sessionRequest(method: 'GET' | 'POST' | 'DELETE', body?: unknown): Promise<Response> {
  return fetch('/console/api/session', {
    method,
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', ...(session ? { 'x-csrf-token': session.csrfToken } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function signedOut(notice?: string, kind: 'error' | 'info' = 'error'): void {
  session = undefined;
  window.clearInterval(poll);
  const error = h('p', { class: kind === 'error' ? 'error' : 'info', id: 'signin-error', role: kind === 'error' ? 'alert' : 'status' }, notice ?? '');
  const key = h('input', { id: 'api-key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'api-key-about signin-error' });
  const form = h(
    'form',
    { class: 'signin', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'api-key' }, 'API key'), key, h('p', { class: 'about', id: 'api-key-about' }, 'A key with the manage scope. It is exchanged for a session and not kept by this page.'), error),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const answer = await sessionRequest('POST', { apiKey: key.value });
    key.value = '';
    const body = await answer.json();
    if (!answer.ok) {
      error.className = 'error';
      error.textContent = body.message;
      key.setAttribute('aria-invalid', 'true');
      key.focus();
      return;
    }
    session = { tenant: body.tenant, csrfToken: body.csrfToken };
    await showConsole();
  });
  $('#app').replaceChildren(h('main', { id: 'main', tabindex: '-1' }, h('h1', {}, 'Sign in to the auditstream console'), form));
  key.focus();
}

// ---- the shell: top bar, sidebar Settings > Audit > SIEM ----

async function showConsole(): Promise<void> {
  providers = (await call(() => api.listProviders({}))).providers;
  const signOut = h('button', { type: 'button' }, 'Sign out');
  signOut.addEventListener('click', async () => {
    await sessionRequest('DELETE');
    signedOut('You are signed out.', 'info');
  });
  const sidebar = h(
    'nav',
    { class: 'sidebar', 'aria-label': 'Console' },
    h(
      'ul',
      {},
      h(
        'li',
        {},
        h('span', { class: 'section' }, 'Settings'),
        h('ul', {}, h('li', {}, h('span', { class: 'section' }, 'Audit'), h('ul', {}, ...pages.map(([hash, name]) => h('li', {}, h('a', { href: hash }, name)))))),
      ),
    ),
  );
  $('#app').replaceChildren(
    h('header', { class: 'topbar' }, h('span', { class: 'brand' }, 'auditstream'), h('div', { class: 'who' }, h('span', {}, `Tenant: ${session!.tenant}`), signOut)),
    h('p', { class: 'offline', id: 'offline', role: 'alert', hidden: true }),
    h('div', { class: 'layout' }, sidebar, h('main', { id: 'main', tabindex: '-1' })),
  );
  window.onhashchange = () => void route();
  await route();
}

/** Settings > Audit: each page's address, name and title. */
const pages = [
  ['#siem', 'SIEM', 'SIEM destinations'],
  ['#logs', 'Logs', 'Audit log'],
  ['#exports', 'Exports', 'Exports'],
  ['#retention', 'Retention', 'Retention'],
] as const;

/** Makes `hash` the current page: its link marked, its title, the previous page's refresh stopped. */
function enter(hash: (typeof pages)[number][0]): void {
  for (const link of document.querySelectorAll<HTMLAnchorElement>('.sidebar a')) {
    if (link.getAttribute('href') === hash) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${pages.find(([candidate]) => candidate === hash)![2]} · auditstream console`;
  window.clearInterval(poll);
}

/** The page the address names (the SIEM destinations by default). */
async function route(): Promise<void> {
  const [hash] = pages.find(([candidate]) => candidate === location.hash) ?? pages[0];
  enter(hash);
  if (hash === '#logs') showLogs();
  else if (hash === '#exports') showExports();
  else if (hash === '#retention') await showRetention();
  else await showList();
}

const present = (children: Child[]) => children.filter((child): child is Node | string => child !== undefined && child !== false);

function page(title: string, ...content: Child[]): HTMLElement {
  return section('SIEM', title, ...content);
}

function section(name: string, title: string, ...content: Child[]): HTMLElement {
  const main = $('#main');
  main.replaceChildren(h('p', { class: 'breadcrumb' }, `Settings › Audit › ${name}`), h('h1', {}, title), ...present(content));
  return main;
}

// ---- Audit > Logs: the tenant's audit log, searched and paged ----

const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

function showLogs(): void {
  const search = h('input', { id: 'logs-search', type: 'search', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'logs-search-about logs-search-error' });
  const searchError = h('p', { class: 'error', id: 'logs-search-error', role: 'alert' });
  const utc = h('input', { type: 'checkbox', role: 'switch', id: 'logs-utc' });
  const zone = h('span', { id: 'logs-zone' });
  const order = h('select', { id: 'logs-order' }, h('option', { value: 'newest' }, 'Newest first'), h('option', { value: 'oldest' }, 'Oldest first (acceptance order)'));
  const from = h('input', { type: 'datetime-local', id: 'logs-from', step: '1' });
  const to = h('input', { type: 'datetime-local', id: 'logs-to', step: '1' });
  const action = h('input', { type: 'text', id: 'logs-action', autocomplete: 'off', placeholder: 'user.login, or user.* for a prefix' });
  const actor = h('input', { type: 'text', id: 'logs-actor', autocomplete: 'off' });
  const resource = h('input', { type: 'text', id: 'logs-resource', autocomplete: 'off' });
  const outcome = h('select', { id: 'logs-outcome' }, h('option', { value: '' }, 'Any'), h('option', { value: 'success' }, 'Success'), h('option', { value: 'failure' }, 'Failure'), h('option', { value: 'unknown' }, 'Unknown'));
  const labelled = (id: string, text: string, input: HTMLElement) => h('div', { class: 'field' }, h('label', { for: id }, text), input);
  const apply = h('button', { type: 'button' }, 'Apply filters');
  const run = h('button', { type: 'submit', class: 'primary' }, 'Search');
  const rows = h('tbody');
  const status = h('p', { class: 'result', id: 'logs-status', role: 'status' });
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const exportThese = h('button', { type: 'button' }, 'Export these results');
  exportThese.addEventListener('click', () => showExports(filter));
  section(
    'Logs',
    'Audit log',
    h('p', {}, "Every audit event of this tenant, the service's own included (destinations degraded and recovered, retention runs, exports)."),
    h(
      'form',
      { class: 'panel logs-search', role: 'search', 'aria-label': 'Search the audit log' },
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'logs-search' }, 'Search'),
        search,
        h('p', { class: 'about', id: 'logs-search-about' }, 'Qualifiers: action:user.login (action:user.* for a prefix), actor:, resource:, resource_type:, outcome:failure, created:>2026-11-01 (or a range, 2026-11-01..2026-11-30).'),
        searchError,
      ),
      h('details', {}, h('summary', {}, 'Filters'), h('div', { class: 'filters' }, labelled('logs-from', 'From (occurred at or after)', from), labelled('logs-to', 'To (occurred before)', to), labelled('logs-action', 'Action', action), labelled('logs-actor', 'Actor', actor), labelled('logs-resource', 'Resource', resource), labelled('logs-outcome', 'Outcome', outcome), apply)),
      h('div', { class: 'toolbar' }, labelled('logs-order', 'Order', order), h('label', { class: 'switch' }, utc, 'Times in UTC'), zone, run),
    ),
    h('div', { class: 'toolbar' }, status, exportThese),
    h(
      'div',
      { class: 'table-wrap' },
      h('table', { class: 'events' }, h('caption', { class: 'visually-hidden' }, 'Audit events'), h('thead', {}, h('tr', {}, ...['Time', 'Actor', 'Action', 'Resource', 'Outcome', 'IP'].map((name) => h('th', { scope: 'col' }, name)))), rows),
    ),
    more,
  );

  let cursor = '';
  let filter: SearchFilter = {};
  /** The events shown, by id: a change of time zone rewrites their times. */
  const shownEvents = new Map<string, AuditEvent>();
  const showZone = () => (zone.textContent = `Times shown in ${utc.checked ? 'UTC' : localZone()}`);
  const when = (event: AuditEvent) => (event.occurredAt ? absoluteTime(timestampDate(event.occurredAt), utc.checked ? 'UTC' : localZone()) : '');
  const request = () => ({
    filter: {
      ...filter,
      occurredAfter: filter.occurredAfter ? timestampFromDate(filter.occurredAfter) : undefined,
      occurredBefore: filter.occurredBefore ? timestampFromDate(filter.occurredBefore) : undefined,
    },
    pageSize: 100,
    cursor,
    newestFirst: order.value === 'newest',
  });

  /** Each load's number: an answer to a load another one has replaced (a new search, another order) is dropped. */
  let loads = 0;
  async function load(fresh: boolean): Promise<void> {
    const mine = ++loads;
    if (fresh) {
      cursor = '';
      rows.replaceChildren();
      shownEvents.clear();
    }
    more.hidden = true;
    status.textContent = 'Loading…';
    try {
      const page = await call(() => auditApi.queryEvents(request()));
      if (mine !== loads) return;
      for (const event of page.events) rows.append(row(event));
      cursor = page.nextCursor;
      more.hidden = !page.more;
      const shown = rows.children.length;
      status.textContent = shown === 0 ? (page.more ? 'No matching events yet in what was read; load more to read on.' : 'No events match.') : `${plural(shown, 'event')} shown${page.more ? '; more to load' : ''}.`;
      if (shown === 0 && page.more) more.hidden = false;
    } catch (error) {
      if (mine !== loads) return;
      status.textContent =
        error instanceof ConnectError && error.code === Code.PermissionDenied ? 'This API key cannot read the audit log: it needs the read scope.' : message(error);
    }
  }

  function row(event: AuditEvent): HTMLTableRowElement {
    shownEvents.set(event.id, event);
    const open = h('button', { type: 'button', class: 'link' }, h('span', { class: 'time' }, when(event)), h('span', { class: 'visually-hidden' }, `, details of event ${event.id}`));
    open.addEventListener('click', () => showEvent(event, when(event)));
    const tr = h(
      'tr',
      { 'data-id': event.id },
      h('td', {}, open),
      h('td', {}, event.actor?.id ?? ''),
      h('td', {}, event.action),
      h('td', {}, [event.resource?.type, event.resource?.id].filter(Boolean).join(' ')),
      h('td', {}, event.outcome),
      h('td', {}, event.actor?.ip ?? ''),
    );
    return tr;
  }

  function searchNow(): void {
    try {
      filter = parseSearch(search.value, utc.checked);
    } catch (error) {
      if (!(error instanceof SearchError)) throw error;
      searchError.textContent = error.message;
      search.setAttribute('aria-invalid', 'true');
      search.focus();
      return;
    }
    searchError.textContent = '';
    search.removeAttribute('aria-invalid');
    void load(true);
  }

  /** The filter fields, written into the search string (one source of truth), then searched. */
  apply.addEventListener('click', () => {
    const fields: SearchFilter = {};
    const moment = (value: string) => (value ? parseSearch(`created:>=${value}`, utc.checked).occurredAfter : undefined);
    try {
      fields.occurredAfter = moment(from.value);
      fields.occurredBefore = moment(to.value);
    } catch (error) {
      searchError.textContent = message(error);
      return;
    }
    const actionValue = action.value.trim();
    if (actionValue.endsWith('*')) fields.actionPrefix = actionValue.slice(0, -1);
    else if (actionValue) fields.action = actionValue;
    if (actor.value.trim()) fields.actorId = actor.value.trim();
    if (resource.value.trim()) fields.resourceId = resource.value.trim();
    if (outcome.value) fields.outcome = outcome.value as SearchFilter['outcome'];
    search.value = formatSearch(fields, utc.checked);
    searchNow();
  });
  search.closest('form')!.addEventListener('submit', (event) => {
    event.preventDefault();
    searchNow();
  });
  search.addEventListener('input', () => {
    searchError.textContent = '';
    search.removeAttribute('aria-invalid');
  });
  order.addEventListener('change', () => void load(true));
  utc.addEventListener('change', () => {
    showZone();
    for (const time of rows.querySelectorAll<HTMLElement>('button.link .time')) {
      const event = shownEvents.get(time.closest('tr')!.dataset.id!);
      if (event) time.textContent = when(event);
    }
  });
  more.addEventListener('click', () => void load(false));
  showZone();
  void load(true);
}

// ---- Audit > Exports: files of the audit log, plain or for a compliance preset ----

const presets = [
  ['', 'None: the events as they are'],
  ['soc2', 'SOC 2: every event of an audit period, with a delivery report per destination'],
  ['hipaa', 'HIPAA: who, what, when, where and outcome of every event (CSV)'],
  ['gdpr-access', 'GDPR access: every event of one data subject, others pseudonymised'],
] as const;

/** The exports page; `filter`: "Export these results" from Logs, written into the form. */
function showExports(filter: SearchFilter = {}): void {
  // From Logs' "Export these results" the address changes without a navigation (and so without route()).
  if (location.hash !== '#exports') history.replaceState(null, '', '#exports');
  enter('#exports');
  const zone = localZone();
  const search = h('input', { id: 'export-search', type: 'search', autocomplete: 'off', spellcheck: 'false', value: formatSearch(filter, false), 'aria-describedby': 'export-search-about' });
  const preset = h('select', { id: 'export-preset' }, ...presets.map(([value, text]) => h('option', { value }, text)));
  const subject = h('input', { id: 'export-subject', type: 'text', autocomplete: 'off' });
  const subjectField = h('div', { class: 'field', hidden: true }, h('label', { for: 'export-subject' }, 'Data subject (their actor or resource id)'), subject);
  const format = h('select', { id: 'export-format' }, h('option', { value: 'ndjson' }, 'NDJSON (one JSON event per line)'), h('option', { value: 'csv' }, 'CSV'));
  const gzip = h('input', { type: 'checkbox', role: 'switch', id: 'export-gzip', checked: true });
  const needs = h('p', { class: 'about', id: 'export-needs' });
  const start = h('button', { type: 'submit', class: 'primary' }, 'Start export');
  const error = h('p', { class: 'error', role: 'alert', id: 'export-error' });
  const list = h('ul', { class: 'exports', id: 'exports', 'aria-label': 'Recent exports' });
  const form = h(
    'form',
    { class: 'panel', novalidate: true, 'aria-label': 'New export' },
    h('div', { class: 'field' }, h('label', { for: 'export-search' }, 'Events'), search, h('p', { class: 'about', id: 'export-search-about' }, `The Logs page's search (dates in ${zone}); empty: every event.`)),
    h('div', { class: 'field' }, h('label', { for: 'export-preset' }, 'Compliance preset'), preset, needs),
    subjectField,
    h('div', { class: 'field' }, h('label', { for: 'export-format' }, 'Format'), format),
    h('label', { class: 'switch' }, gzip, 'Compressed (gzip)'),
    error,
    h('div', { class: 'actions' }, start),
  );
  const describe = () => {
    subjectField.hidden = preset.value !== 'gdpr-access';
    format.disabled = preset.value !== '';
    needs.textContent =
      preset.value === 'soc2'
        ? 'Needs the audit period: created:2026-01-01..2026-12-31 in Events.'
        : preset.value === 'hipaa'
          ? 'Always CSV; with resource: in Events, the access report of that one record.'
          : preset.value === 'gdpr-access'
            ? 'Needs the data subject below.'
            : '';
  };
  preset.addEventListener('change', describe);
  describe();
  section('Exports', 'Exports', h('p', {}, 'A file of the audit log to download, with its event count and SHA-256 to check it by. Files are kept for a day.'), form, h('h2', {}, 'Recent exports'), list);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    let chosen: SearchFilter;
    try {
      chosen = parseSearch(search.value, false);
    } catch (problem) {
      error.textContent = message(problem);
      return;
    }
    start.disabled = true;
    try {
      await call(() =>
        auditApi.createExport({
          filter: {
            ...chosen,
            occurredAfter: chosen.occurredAfter ? timestampFromDate(chosen.occurredAfter) : undefined,
            occurredBefore: chosen.occurredBefore ? timestampFromDate(chosen.occurredBefore) : undefined,
            subjectId: preset.value === 'gdpr-access' ? subject.value.trim() : undefined,
          },
          format: preset.value ? '' : format.value,
          gzip: gzip.checked,
          preset: preset.value,
        }),
      );
      announce('Export started.');
      await refreshExports();
    } catch (problem) {
      error.textContent = message(problem);
    } finally {
      start.disabled = false;
    }
  });

  async function refreshExports(): Promise<void> {
    let exports;
    try {
      ({ exports } = await call(() => auditApi.listExports({})));
    } catch (problem) {
      if (!list.isConnected) return;
      list.replaceChildren(h('li', { class: 'error' }, message(problem)));
      return;
    }
    if (!list.isConnected) return;
    list.replaceChildren(...exports.map((job) => exportItem(job)));
    if (exports.length === 0) list.append(h('li', {}, 'No exports yet.'));
  }

  function exportItem(job: Export): HTMLElement {
    const when = (value: Timestamp | undefined) => (value ? absolute(timestampDate(value)) : '');
    const facts: [string, string][] = [
      ['State', job.state],
      ['Started', when(job.createdAt)],
      ...(job.state === 'ready'
        ? ([
            ['Events', String(job.eventCount)],
            ['SHA-256', job.sha256],
            ['Expires', when(job.expiresAt)],
          ] as [string, string][])
        : []),
      ...(job.failure ? ([['Why it failed', job.failure]] as [string, string][]) : []),
    ];
    const download = h('button', { type: 'button', class: 'primary', hidden: job.state !== 'ready' }, 'Download');
    download.setAttribute('aria-label', `Download export ${job.id}`);
    download.addEventListener('click', async () => {
      // The file needs the session's CSRF token, which a plain link cannot send: fetched, then saved.
      const answer = await fetch(job.downloadPath, { credentials: 'same-origin', headers: { 'x-csrf-token': session!.csrfToken } });
      if (!answer.ok) {
        announce(`The download failed: ${(await answer.json().catch(() => ({ message: answer.statusText }))).message}`);
        return;
      }
      const url = URL.createObjectURL(await answer.blob());
      const link = h('a', { href: url, download: /filename="([^"]+)"/.exec(answer.headers.get('content-disposition') ?? '')?.[1] ?? `${job.id}` });
      document.body.append(link);
      link.click();
      link.remove();
      URL.revokeObjectURL(url);
    });
    return h(
      'li',
      { class: 'card', 'data-id': job.id },
      h('h3', {}, `${job.preset ? presets.find(([value]) => value === job.preset)?.[1].split(':')[0] : job.format.toUpperCase()} export ${job.id}`),
      h('dl', { class: 'facts' }, ...facts.map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value)))),
      h('div', { class: 'actions' }, download),
    );
  }

  poll = window.setInterval(() => void refreshExports(), 2_000);
  void refreshExports();
}

// ---- Audit > Retention ----

async function showRetention(): Promise<void> {
  const days = h('input', { type: 'number', id: 'retention-days', min: '1', max: '3650', step: '1', required: true });
  const hold = h('input', { type: 'checkbox', role: 'switch', id: 'retention-hold' });
  const hipaa = h('input', { type: 'checkbox', role: 'switch', id: 'retention-hipaa' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const result = h('p', { class: 'result', role: 'status' });
  const error = h('p', { class: 'error', role: 'alert', id: 'retention-error' });
  const runs = h('dl', { class: 'facts', id: 'retention-runs' });
  const form = h(
    'form',
    { class: 'panel', novalidate: true, 'aria-label': 'Retention' },
    h('div', { class: 'field' }, h('label', { for: 'retention-days' }, 'Keep events for (days)'), days, h('p', { class: 'about' }, '1 to 3,650. Events are deleted this many days after they were accepted.')),
    h('label', { class: 'switch' }, hold, 'Legal hold'),
    h('p', { class: 'about' }, 'While on, nothing is deleted, whatever the days say.'),
    h('label', { class: 'switch' }, hipaa, 'HIPAA'),
    h('p', { class: 'about' }, 'While on, days cannot go below 2,190: HIPAA §164.316(b)(2) keeps documentation six years.'),
    error,
    h('div', { class: 'actions' }, save),
    result,
  );
  section('Retention', 'Retention', h('p', {}, 'How long the audit log keeps events. Changing it needs an API key with the manage scope.'), form, h('h2', {}, 'Runs'), runs);
  const show = (retention: Retention | undefined) => {
    if (!retention) return;
    days.value = String(retention.days);
    hold.checked = retention.legalHold;
    hipaa.checked = retention.hipaa;
    const last = retention.lastRun;
    const facts: [string, string][] = [
      ['Next run', retention.nextRunAt ? absolute(timestampDate(retention.nextRunAt)) : 'not scheduled yet'],
      ['Last run', last?.at ? absolute(timestampDate(last.at)) : 'none yet'],
      ...(last?.at
        ? ([
            ['Deleted then', last.held ? 'nothing: a legal hold was on' : `${plural(last.deleted, 'event')} accepted before ${last.cutoff ? absolute(timestampDate(last.cutoff)) : '—'}`],
          ] as [string, string][])
        : []),
    ];
    runs.replaceChildren(...facts.map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))));
  };
  try {
    show((await call(() => auditApi.getRetention({}))).retention);
  } catch (problem) {
    error.textContent = message(problem);
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    result.textContent = '';
    save.disabled = true;
    try {
      const answer = await call(() => auditApi.updateRetention({ days: Number(days.value), legalHold: hold.checked, hipaa: hipaa.checked }));
      show(answer.retention);
      result.textContent = 'Saved.';
    } catch (problem) {
      error.textContent =
        problem instanceof ConnectError && problem.code === Code.PermissionDenied ? `${message(problem)}. Changing retention needs an API key with the manage scope.` : message(problem);
    } finally {
      save.disabled = false;
    }
  });
}

/** One event, whole, as formatted JSON, with a button that copies it. */
function showEvent(event: AuditEvent, time: string): void {
  const json = JSON.stringify(JSON.parse(toJsonString(AuditEventSchema, event)), null, 2);
  const copy = h('button', { type: 'button', class: 'primary' }, 'Copy JSON');
  const close = h('button', { type: 'button' }, 'Close');
  const copied = h('p', { class: 'result', role: 'status' });
  const dialog = h(
    'dialog',
    { class: 'event', 'aria-labelledby': 'event-title' },
    h('h2', { id: 'event-title' }, `${event.action} · ${time}`),
    h('pre', { class: 'json', tabindex: '0', 'aria-label': `Event ${event.id} as JSON` }, json),
    copied,
    h('div', { class: 'actions' }, copy, close),
  );
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(json);
      copied.textContent = 'Copied.';
    } catch {
      copied.textContent = 'This browser did not allow copying: select the JSON and copy it.';
    }
  });
  openDialog(dialog, close);
}

/** Shows a modal dialog, closed and removed by `closer` or Escape, with the focus on `focus`; returns what closes it. */
function openDialog(dialog: HTMLDialogElement, closer: HTMLButtonElement, focus: HTMLElement = closer): () => void {
  const close = () => {
    dialog.close();
    dialog.remove();
  };
  closer.addEventListener('click', close);
  dialog.addEventListener('cancel', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  focus.focus();
  return close;
}

// ---- the list, refreshed every few seconds ----

async function showList(notice?: string, about?: string): Promise<void> {
  const add = h('button', { type: 'button', class: 'primary', id: 'add-destination' }, 'Add destination');
  add.addEventListener('click', () => showForm());
  const main = page(
    'SIEM destinations',
    h('p', {}, 'Every audit event is forwarded in real time to each enabled destination. Undelivered events are retried for up to 24 hours.'),
    h('div', { class: 'toolbar' }, add, h('p', { class: 'result', id: 'list-notice', role: 'status', 'data-about': about }, notice ?? '')),
    h('ul', { class: 'destinations', id: 'destinations', 'aria-label': 'Destinations' }),
  );
  // The list refreshes itself whatever the first attempt found: after an outage it recovers by itself.
  window.clearInterval(poll);
  poll = window.setInterval(() => void refresh(), 3_000);
  await refresh();
  if (notice) main.focus();
}

let lastRefreshed: Date | undefined;

/** Says the page is offline and what it shows is stale, or that it is live again. */
function showOnline(online: true): void;
function showOnline(online: false, error: unknown): void;
function showOnline(online: boolean, error?: unknown): void {
  const banner = document.getElementById('offline');
  const list = document.getElementById('destinations');
  if (!banner) return;
  list?.classList.toggle('stale', !online);
  list?.setAttribute('aria-busy', String(!online));
  if (online) {
    if (!banner.hidden) announce('Back online: the list is current again.');
    banner.hidden = true;
    banner.textContent = '';
    return;
  }
  const since = lastRefreshed ? `What is shown was last updated ${absolute(lastRefreshed)}.` : 'Nothing could be loaded yet.';
  banner.textContent = `Offline: ${unreachable(error) ? 'the auditstream service cannot be reached' : message(error)}. ${since} Trying again every 3 seconds.`;
  banner.hidden = false;
}

async function refresh(): Promise<void> {
  const list = document.getElementById('destinations');
  if (!list) return;
  let destinations: Destination[];
  try {
    ({ destinations } = await call(() => api.listDestinations({})));
  } catch (error) {
    if (!(error instanceof ConnectError && error.code === Code.Unauthenticated)) showOnline(false, error);
    return;
  }
  lastRefreshed = new Date();
  showOnline(true);
  const seen = new Set<string>();
  for (const destination of destinations) {
    seen.add(destination.id);
    let card = list.querySelector<HTMLElement>(`[data-id="${CSS.escape(destination.id)}"]`);
    if (!card) {
      card = newCard(destination);
      list.append(card);
    }
    updateCard(card, destination);
  }
  for (const card of list.querySelectorAll<HTMLElement>('[data-id]')) if (!seen.has(card.dataset.id!)) card.remove();
  const empty = document.getElementById('empty');
  if (destinations.length === 0 && !empty) list.after(h('p', { class: 'empty', id: 'empty' }, 'No destinations yet. Add one to start streaming.'));
  if (destinations.length > 0) empty?.remove();
}

const titleOf = (provider: string) => providers.find((p) => p.name === provider)?.title ?? provider;

/** A card is built once and updated in place, so a refresh never moves the keyboard focus. */
function newCard(destination: Destination): HTMLElement {
  const id = destination.id;
  const enabled = h('input', { type: 'checkbox', role: 'switch', class: 'enabled' });
  enabled.addEventListener('change', async () => {
    enabled.disabled = true;
    try {
      const { destination: updated } = await call(() => api.updateDestination({ id, enabled: enabled.checked }));
      updateCard(card, updated!);
      announce(`${updated!.name} ${updated!.enabled ? 'enabled' : 'disabled'}.`);
    } catch (error) {
      $('.result', card).textContent = message(error);
    } finally {
      enabled.disabled = false;
    }
  });
  const test = h('button', { type: 'button', class: 'test' }, 'Test connection');
  test.addEventListener('click', async () => {
    const result = $('.result', card);
    test.disabled = true;
    result.textContent = 'Sending a test event…';
    try {
      const answer = await call(() => api.testDestination({ target: { case: 'id', value: id } }));
      result.className = `result ${answer.ok ? 'ok' : 'bad'}`;
      result.textContent = answer.ok ? `Test event accepted: ${answer.message}` : `Test failed (${answer.outcome}): ${answer.message}`;
    } catch (error) {
      result.className = 'result bad';
      result.textContent = message(error);
    } finally {
      test.disabled = false;
    }
  });
  const edit = h('button', { type: 'button', class: 'edit' }, 'Edit');
  edit.addEventListener('click', () => showForm(currentOf(card)));
  const remove = h('button', { type: 'button', class: 'danger delete' }, 'Delete');
  remove.addEventListener('click', () => confirmDelete(currentOf(card)));
  const backfill = h('button', { type: 'button', class: 'backfill' }, 'Backfill');
  backfill.addEventListener('click', () => showBackfill(currentOf(card)));
  const card = h(
    'li',
    { class: 'card', 'data-id': id },
    h('div', { class: 'card-head' }, h('h2', { class: 'name' }), h('span', { class: 'provider' })),
    h('p', { class: 'endpoint' }),
    h('p', { class: 'status' }, h('span', { class: 'badge' }), h('span', { class: 'reason' })),
    h('p', { class: 'note', hidden: true }, 'Retries are exhausted and buffered events were dropped. Fix the destination, then edit and save it: saving re-enables streaming.'),
    h('dl', { class: 'facts' }),
    h('div', { class: 'actions' }, h('label', { class: 'switch' }, enabled, 'Enabled'), test, edit, backfill, remove),
    h('p', { class: 'result', role: 'status' }),
  );
  return card;
}

const current = new WeakMap<HTMLElement, Destination>();
const currentOf = (card: HTMLElement) => current.get(card)!;

function updateCard(card: HTMLElement, d: Destination): void {
  const previous = current.get(card);
  // A message about the card (a test's result, an error) no longer holds once its state changed.
  if (previous && (previous.enabled !== d.enabled || previous.status !== d.status)) {
    $('.result', card).textContent = '';
    $('.result', card).className = 'result';
    const notice = document.getElementById('list-notice');
    if (notice?.dataset.about === d.id) notice.textContent = '';
  }
  current.set(card, d);
  const now = new Date();
  $('.name', card).textContent = d.name;
  $('.provider', card).textContent = titleOf(d.provider);
  $('.endpoint', card).textContent = d.endpoint;
  const shown = d.enabled ? d.status : 'disabled';
  const badge = $('.badge', card);
  badge.className = `badge ${shown}`;
  badge.textContent = shown[0].toUpperCase() + shown.slice(1);
  $('.reason', card).textContent = d.statusReason;
  $('.note', card).hidden = d.status !== 'failed';
  ($('.enabled', card) as HTMLInputElement).checked = d.enabled;
  for (const button of card.querySelectorAll('button')) button.setAttribute('aria-label', `${button.textContent} ${d.name}`);
  $('.enabled', card).setAttribute('aria-label', `Enabled: ${d.name}`);
  const windowEnds = date(d.backlog?.windowEndsAt);
  const backlog = d.backlog?.events ?? 0n;
  const facts: [string, Child][] = [
    ['Backlog', plural(backlog, 'event')],
    ...(d.status === 'degraded' && windowEnds && backlog > 0n
      ? ([['Retry window', h('span', { class: 'deadline' }, `dropped ${absolute(windowEnds)} (in ${timeLeft(windowEnds, now)})`)]] as [string, Child][])
      : []),
    ['Receives', d.filters && d.filters.values.length > 0 ? h('code', { class: 'filters' }, filtersText(d.filters)) : 'every event'],
    ['Format', d.format === 'ocsf' ? 'OCSF (API Activity)' : 'auditstream JSON'],
    ['Masks', d.masking && d.masking.rules.length > 0 ? d.masking.rules.map((rule) => `${rule.field} (${rule.action})`).join(', ') : 'nothing'],
    ['Delivered', String(d.counters?.delivered ?? 0n)],
    ['Dropped', String(d.counters?.dropped ?? 0n)],
    ['Rejected', String(d.counters?.rejected ?? 0n)],
    ['Last delivery', d.lastDeliveredAt ? `${absolute(date(d.lastDeliveredAt)!)} (${timeAgo(date(d.lastDeliveredAt)!, now)})` : 'none yet'],
  ];
  $('.facts', card).replaceChildren(...facts.map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))));
}

// ---- delete, with confirmation and the flush's result ----

function confirmDelete(d: Destination): void {
  const confirm = h('button', { type: 'button', class: 'danger' }, 'Delete');
  const cancel = h('button', { type: 'button' }, 'Cancel');
  const dialog = h(
    'dialog',
    { 'aria-labelledby': 'delete-title', 'aria-describedby': 'delete-about' },
    h('h2', { id: 'delete-title' }, `Delete ${d.name}?`),
    h('p', { id: 'delete-about' }, 'New events stop at once. Events still buffered are delivered first, within a deadline; those that cannot be are dropped and counted.'),
    h('p', { class: 'result', role: 'status' }),
    h('div', { class: 'actions' }, confirm, cancel),
  );
  confirm.addEventListener('click', async () => {
    confirm.disabled = cancel.disabled = true;
    $('.result', dialog).textContent = 'Flushing buffered events…';
    try {
      const result = await call(() => api.deleteDestination({ id: d.id }));
      close();
      const notice = `Deleted ${d.name}: ${plural(result.flushed, 'buffered event')} flushed, ${result.dropped} dropped.`;
      announce(notice);
      await showList(notice);
    } catch (error) {
      $('.result', dialog).textContent = message(error);
      confirm.disabled = cancel.disabled = false;
    }
  });
  const close = openDialog(dialog, cancel);
}

// ---- backfill: replay part of the audit log, counted before it is confirmed ----

function showBackfill(d: Destination): void {
  const choice = h(
    'select',
    { id: 'backfill-scope' },
    h('option', { value: 'disabled' }, 'Its last disabled period'),
    h('option', { value: 'failed' }, 'What its last failure dropped'),
    h('option', { value: 'range' }, 'A time range'),
  );
  const after = h('input', { type: 'datetime-local', id: 'backfill-after' });
  const before = h('input', { type: 'datetime-local', id: 'backfill-before' });
  const range = h(
    'div',
    { hidden: true },
    h('div', { class: 'field' }, h('label', { for: 'backfill-after' }, 'From (occurred at or after)'), after),
    h('div', { class: 'field' }, h('label', { for: 'backfill-before' }, 'To (occurred before)'), before),
  );
  choice.addEventListener('change', () => (range.hidden = choice.value !== 'range'));
  const count = h('button', { type: 'button', class: 'primary' }, 'Count events');
  const confirm = h('button', { type: 'button', class: 'primary', hidden: true }, 'Send them');
  const cancel = h('button', { type: 'button' }, 'Close');
  const result = h('p', { class: 'result', role: 'status' });
  const dialog = h(
    'dialog',
    { 'aria-labelledby': 'backfill-title', 'aria-describedby': 'backfill-about' },
    h('h2', { id: 'backfill-title' }, `Backfill ${d.name}`),
    h('p', { id: 'backfill-about' }, 'Sends events of the audit log again, each with its own id, marked as a replay. Live events keep flowing meanwhile.'),
    h('div', { class: 'field' }, h('label', { for: 'backfill-scope' }, 'Which events'), choice),
    range,
    result,
    h('div', { class: 'actions' }, count, confirm, cancel),
  );
  const request = (dryRun: boolean) => {
    const toTimestamp = (value: string) => (value ? { seconds: BigInt(Math.floor(new Date(value).getTime() / 1000)), nanos: 0 } : undefined);
    const base = { id: d.id, dryRun };
    return choice.value === 'range'
      ? { ...base, range: { case: 'filter' as const, value: { occurredAfter: toTimestamp(after.value), occurredBefore: toTimestamp(before.value) } } }
      : { ...base, range: { case: 'gap' as const, value: choice.value } };
  };
  count.addEventListener('click', async () => {
    result.className = 'result';
    try {
      const answer = await call(() => api.backfillDestination(request(true)));
      result.textContent = `${plural(answer.count, 'event')} would be sent to ${d.name}.`;
      confirm.hidden = answer.count === 0n;
      if (!confirm.hidden) confirm.focus();
    } catch (error) {
      result.className = 'result bad';
      result.textContent = message(error);
      confirm.hidden = true;
    }
  });
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    try {
      const answer = await call(() => api.backfillDestination(request(false)));
      result.className = 'result ok';
      result.textContent = `Backfill started: ${plural(answer.count, 'event')} to send.`;
      confirm.hidden = true;
      void followBackfill(d, answer.backfill!.id, result);
    } catch (error) {
      result.className = 'result bad';
      result.textContent = message(error);
    } finally {
      confirm.disabled = false;
    }
  });
  openDialog(dialog, cancel, choice);
}

/** Shows a backfill's progress until it ends. */
async function followBackfill(d: Destination, id: string, result: HTMLElement): Promise<void> {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    if (!result.isConnected) return;
    const { backfill } = await call(() => api.getBackfill({ destinationId: d.id, id }));
    const b = backfill!;
    result.textContent =
      b.state === 'running'
        ? `Backfill running: ${b.progressPercent}% — ${b.delivered} of ${b.total} sent.`
        : `Backfill ${b.state}: ${b.delivered} of ${b.total} sent${b.rejected > 0n ? `, ${b.rejected} rejected` : ''}${b.reason ? ` (${b.reason})` : ''}.`;
    if (b.state !== 'running') return;
  }
}

// ---- add and edit ----

/** A destination's filters as the API writes them in JSON (CloudEvents Subscriptions API dialects). */
function filtersText(filters: ListValue | undefined): string {
  return filters && filters.values.length > 0 ? JSON.stringify(toJson(ListValueSchema, filters)) : '';
}

/** Filters as typed into the form; empty means every event. The API says what else is wrong with them. */
function parseFiltersInput(text: string): ListValue {
  if (text.trim() === '') return fromJson(ListValueSchema, []);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`filters are not JSON (${(error as Error).message}): write a list such as [{"prefix": {"action": "user."}}], or leave it empty`);
  }
  if (!Array.isArray(parsed)) throw new Error('filters must be a JSON list of filter expressions, such as [{"prefix": {"action": "user."}}]');
  return fromJson(ListValueSchema, parsed as never);
}

/** Masking rules as the form shows them: one "field action" per line. */
function maskingText(masking: Masking | undefined): string {
  return (masking?.rules ?? []).map((rule) => `${rule.field} ${rule.action}`).join('\n');
}

function parseMaskingInput(text: string): { rules: { field: string; action: string }[] } {
  const lines = text.split('\n').map((line) => line.trim());
  const rules = lines.flatMap((line, index) => {
    if (line === '') return [];
    const words = line.split(/\s+/);
    if (words.length !== 2) throw new Error(`masking: line ${index + 1} should be a field and drop or hmac, such as "actor.ip hmac"`);
    return [{ field: words[0], action: words[1] }];
  });
  return { rules };
}

interface FormField {
  /** As in the API: `endpoint`, `secret`, `settings.log_group`. */
  name: string;
  input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
  error: HTMLElement;
}

function field(name: string, label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, about?: string): { element: HTMLElement; field: FormField } {
  const id = `f-${name.replace(/\W/g, '-')}`;
  input.id = id;
  const error = h('p', { class: 'error', id: `${id}-error` });
  const aboutId = about ? `${id}-about` : undefined;
  input.setAttribute('aria-describedby', [aboutId, `${id}-error`].filter(Boolean).join(' '));
  const element =
    input instanceof HTMLInputElement && input.type === 'checkbox'
      ? h('div', { class: 'field' }, h('label', { class: 'switch', for: id }, input, label), about && h('p', { class: 'about', id: aboutId }, about), error)
      : h('div', { class: 'field' }, h('label', { for: id }, label), about && h('p', { class: 'about', id: aboutId }, about), input, error);
  return { element, field: { name, input, error } };
}

/** A field of several lines of text, such as a destination's filters or masking rules. */
function textField(name: string, label: string, value: string, placeholder: string, about: string): ReturnType<typeof field> {
  const input = h('textarea', { rows: '3', spellcheck: 'false', autocomplete: 'off', placeholder });
  input.value = value;
  return field(name, label, input, about);
}

function showForm(existing?: Destination): void {
  window.clearInterval(poll);
  const editing = existing !== undefined;
  const providerSelect = h('select', {}, ...providers.map((p) => h('option', { value: p.name, selected: p.name === existing?.provider }, p.title)));
  const body = h('div', { id: 'provider-fields' });
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const testResult = h('p', { class: 'result', role: 'status' });
  const enabled = h('input', { type: 'checkbox', role: 'switch', checked: existing ? existing.enabled : true });
  const enabledField = field('enabled', 'Enabled', enabled, 'Events stream to the destination only while it is enabled.');
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const test = h('button', { type: 'button' }, 'Test connection');
  const cancel = h('button', { type: 'button' }, 'Cancel');
  const form = h(
    'form',
    { class: 'panel', novalidate: true, 'aria-label': editing ? `Edit ${existing.name}` : 'Add destination' },
    editing ? h('p', {}, `Provider: ${titleOf(existing.provider)}`) : field('provider', 'Provider', providerSelect).element,
    body,
    enabledField.element,
    existing?.status === 'failed' && h('p', { class: 'note' }, 'This destination failed: its retries ran out and buffered events were dropped. Saving it re-enables streaming.'),
    formError,
    h('div', { class: 'actions' }, save, test, cancel),
    testResult,
  );
  let fields: FormField[] = [];

  function renderProvider(): void {
    const provider = providers.find((p) => p.name === (existing?.provider ?? providerSelect.value))!;
    const name = field('name', 'Name', h('input', { type: 'text', value: existing?.name ?? '', autocomplete: 'off' }), 'Shown in this list; defaults to the provider and host.');
    const endpoint = field('endpoint', 'Endpoint URL', h('input', { type: 'url', value: existing?.endpoint ?? '', placeholder: provider.endpointExample, autocomplete: 'off', required: true }), `For example ${provider.endpointExample}`);
    const hints = existing?.credentials as unknown as Record<string, string> | undefined;
    const credentials = provider.credentials.map((credential) => {
      const hint = hints?.[camel(credential.name)];
      const input = h('input', {
        type: 'password',
        autocomplete: 'new-password',
        spellcheck: 'false',
        placeholder: editing ? `Unchanged (${hint || 'set'}); type to replace` : '',
      });
      return field(credential.name, label(credential), input, credential.about + (editing ? ' Write-only: leave empty to keep it.' : ''));
    });
    const settings = provider.settings.map((setting) => {
      const current = (existing?.settings as unknown as Record<string, string | boolean> | undefined)?.[camel(setting.name)];
      const input =
        setting.kind === 'flag'
          ? h('input', { type: 'checkbox', checked: current === true })
          : h('input', { type: 'text', value: typeof current === 'string' ? current : '', autocomplete: 'off', required: setting.required });
      return field(`settings.${setting.name}`, label(setting), input, setting.about);
    });
    const filters = textField(
      'filters',
      'Filters (optional)',
      filtersText(existing?.filters),
      '[{"prefix": {"action": "user."}}]',
      'Which events this destination receives, as CloudEvents subscription filters (exact, prefix, suffix, all, any, not) over action, outcome, ' +
        'actor.type, actor.id, actor.name, resource.type, resource.id, resource.name; all must match. Empty: every event. A change applies from the next event accepted.',
    );
    const formatSelect = h(
      'select',
      {},
      h('option', { value: 'auditstream', selected: existing?.format !== 'ocsf' }, 'auditstream JSON (the API’s AuditEvent)'),
      h('option', { value: 'ocsf', selected: existing?.format === 'ocsf' }, 'OCSF 1.3.0 (API Activity, class 6003)'),
    );
    const format = field('format', 'Format', formatSelect, 'How each event is written, inside the provider’s own envelope. Applies to every event sent from then on.');
    const masking = textField(
      'masking',
      'Masking (optional)',
      maskingText(existing?.masking),
      'actor.ip hmac\nmetadata.card drop',
      'One field per line and what to do with it: drop (left out) or hmac (replaced by this tenant’s keyed token of its value, the same for the same value). ' +
        'Fields: actor.id, actor.name, actor.ip, actor.user_agent, resource.id, resource.name, request_id, metadata.<key>.',
    );
    body.replaceChildren(
      ...present([
      h('section', { class: 'setup', 'aria-labelledby': 'setup-title' }, h('h2', { id: 'setup-title' }, `Set up ${provider.title}`), h('ol', {}, ...provider.setup.map((step) => h('li', {}, step)))),
      name.element,
      endpoint.element,
      h('fieldset', {}, h('legend', {}, 'Credentials'), ...credentials.map((c) => c.element)),
      settings.length > 0 && h('fieldset', {}, h('legend', {}, 'Settings'), ...settings.map((s) => s.element)),
      filters.element,
      masking.element,
      format.element,
      ]),
    );
    fields = [name.field, endpoint.field, ...credentials.map((c) => c.field), ...settings.map((s) => s.field), filters.field, masking.field, format.field, enabledField.field];
  }

  /** The request's fields as the API names them (credentials left empty are left out). */
  function values() {
    const provider = existing?.provider ?? providerSelect.value;
    const request: Record<string, unknown> = { provider, enabled: enabled.checked };
    const settings: Record<string, unknown> = {};
    for (const { name, input } of fields) {
      if (name === 'enabled') continue;
      // Filters and masking are sent when new or changed only: an unchanged list is not a change to apply and audit.
      if (name === 'filters') {
        if (!editing || input.value.trim() !== filtersText(existing.filters)) request.filters = parseFiltersInput(input.value);
        continue;
      }
      if (name === 'format') {
        if (!editing || input.value !== (existing.format || 'auditstream')) request.format = input.value;
        continue;
      }
      if (name === 'masking') {
        const rules = parseMaskingInput(input.value);
        if (!editing || maskingText(rules as Masking) !== maskingText(existing.masking)) request.masking = rules;
        continue;
      }
      const value = input instanceof HTMLInputElement && input.type === 'checkbox' ? input.checked : input.value.trim();
      if (name.startsWith('settings.')) settings[camel(name.slice('settings.'.length))] = value;
      else if (value !== '') request[camel(name)] = value;
    }
    request.settings = settings;
    return request;
  }

  function showError(error: unknown): void {
    const text = message(error);
    for (const f of fields) {
      f.error.textContent = '';
      f.input.removeAttribute('aria-invalid');
    }
    formError.textContent = '';
    const target = fields.find((f) => f.name === fieldOfError(text, fields.map((candidate) => candidate.name)));
    if (target) {
      target.error.textContent = text;
      target.input.setAttribute('aria-invalid', 'true');
      target.input.focus();
    } else {
      formError.textContent = text;
    }
  }

  providerSelect.addEventListener('change', renderProvider);
  // An error under a field no longer holds once the field is changed.
  body.addEventListener('input', (event) => {
    const changed = fields.find((f) => f.input === event.target);
    if (changed?.input.getAttribute('aria-invalid') === 'true') {
      changed.error.textContent = '';
      changed.input.removeAttribute('aria-invalid');
    }
  });
  cancel.addEventListener('click', () => void showList());
  test.addEventListener('click', async () => {
    test.disabled = true;
    testResult.className = 'result';
    testResult.textContent = 'Sending a test event…';
    try {
      const draft = values();
      if (editing) {
        // A saved destination is tested as saved; to test changes, save them first.
        const answer = await call(() => api.testDestination({ target: { case: 'id', value: existing.id } }));
        showTest(answer.ok, answer.outcome, answer.message);
      } else {
        const answer = await call(() => api.testDestination({ target: { case: 'draft', value: draft } }));
        showTest(answer.ok, answer.outcome, answer.message);
      }
    } catch (error) {
      testResult.textContent = '';
      showError(error);
    } finally {
      test.disabled = false;
    }
  });
  function showTest(ok: boolean, outcome: string, text: string): void {
    testResult.className = `result ${ok ? 'ok' : 'bad'}`;
    testResult.textContent = ok ? `Test event accepted: ${text}` : `Test failed (${outcome}): ${text}`;
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    save.disabled = true;
    try {
      const request = values();
      if (editing) {
        const { provider: _provider, ...changes } = request;
        const { destination, notice } = await call(() => api.updateDestination({ id: existing.id, ...changes }));
        // A refused new credential is saved, and the previous one goes on delivering: say so.
        await showList(notice ? `Saved ${destination!.name}, but ${notice}.` : `Saved ${destination!.name}.`);
      } else {
        const { destination } = await call(() => api.createDestination(request));
        await showList(`Added ${destination!.name}: ${destination!.enabled ? 'events stream to it now' : 'it is disabled'}.`, destination!.id);
      }
    } catch (error) {
      showError(error);
    } finally {
      save.disabled = false;
    }
  });

  page(editing ? `Edit ${existing.name}` : 'Add destination', form);
  renderProvider();
  (editing ? fields[0].input : providerSelect).focus();
}

function label(f: ProviderField): string {
  return f.label + (f.required ? '' : ' (optional)');
}

// ---- start ----

async function start(): Promise<void> {
  const answer = await sessionRequest('GET');
  if (!answer.ok) return signedOut();
  const body = await answer.json();
  session = { tenant: body.tenant, csrfToken: body.csrfToken };
  await showConsole();
}

void start();
