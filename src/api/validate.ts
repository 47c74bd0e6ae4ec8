// The API boundary: protobuf requests become trusted domain values here, or are refused
// with INVALID_ARGUMENT and a message naming the field and what to fix. Nothing is stored
// before validation passes.
import { Code, ConnectError } from '@connectrpc/connect';
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { createHash, randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { AuditEvent as AuditEventMessage } from '../gen/auditstream/v1/events_pb.js';
import type {
  CreateDestinationRequest,
  Masking as MaskingMessage,
  ProviderSettings as SettingsMessage,
  UpdateDestinationRequest,
} from '../gen/auditstream/v1/destinations_pb.js';
import { eventOutcomes, maxEventsPerPublish, type AuditEvent, type AuditFilter, type EventOutcome } from '../model.js';
import { isProviderName, providerFor, providerNames } from '../providers/index.js';
import { apiName, credentialFields, credentialsOf, type Credentials, type Provider, type ProviderSettings, type SettingName } from '../providers/provider.js';
import type { DestinationChanges, NewDestination } from '../store/destinations.js';
import type { EventFilter as EventFilterMessage } from '../gen/auditstream/v1/audit_pb.js';
import type { ExportFormat, ExportPreset } from '../audit/export-file.js';
import type { LogPosition } from '../store/audit-log.js';
import { retentionBounds } from '../store/retention.js';
import { errorMessage } from '../log.js';
import { toJson } from '@bufbuild/protobuf';
import { ListValueSchema, type ListValue } from '@bufbuild/protobuf/wkt';
import { parseSubscriptionFilters, SubscriptionFilterError, type SubscriptionFilter } from '../subscription/filter.js';
import { MaskingError, parseMaskRules, type MaskRule } from '../subscription/masking.js';
import { destinationFormats, type DestinationFormat } from '../subscription/ocsf.js';

export const limits = {
  name: 200,
  endpoint: 2048,
  credential: 4096,
  setting: 256,
  eventId: 128,
  action: 256,
  field: 1024,
  metadataBytes: 16 * 1024,
  metadataDepth: 8,
  metadataKey: 256,
  eventsPerBatch: maxEventsPerPublish,
};

export function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** A UTF-16 surrogate standing alone: not text (RFC 8785, which checkpoints hash events by, refuses it). */
const loneSurrogate = /\p{Surrogate}/u;

function wellFormed(value: string, field: string): string {
  if (loneSurrogate.test(value)) throw invalid(`${field} holds a lone UTF-16 surrogate, which is not Unicode text; send valid UTF-8`);
  return value;
}

function bounded(value: string, field: string, max: number): string {
  if (value.length > max) throw invalid(`${field} is ${value.length} characters long; the limit is ${max}`);
  return wellFormed(value, field);
}

function required(value: string, field: string, max: number): string {
  if (value.trim() === '') throw invalid(`${field} is required`);
  return bounded(value, field, max);
}

// ---- destinations: what each provider takes is declared by the provider (src/providers/<name>) ----

export function parseProvider(raw: string): Provider {
  const name = raw.trim().toLowerCase();
  if (!isProviderName(name)) throw invalid(`provider must be one of ${providerNames.join(', ')} (got "${raw}")`);
  return providerFor(name);
}

export function parseEndpoint(raw: string, allowInsecure: boolean): string {
  required(raw, 'endpoint', limits.endpoint);
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw invalid(`endpoint must be an absolute https:// URL (got "${raw.slice(0, 100)}")`);
  }
  const allowed = allowInsecure ? ['https:', 'http:'] : ['https:'];
  if (!allowed.includes(url.protocol)) throw invalid(`endpoint must be an https URL (got ${url.protocol}//)`);
  if (url.username || url.password) {
    throw invalid('endpoint must not contain a user name or password: put credentials in their own fields');
  }
  url.hash = '';
  return url.toString();
}

/** The settings the provider takes, checked as it declares them; any other given is refused. */
function parseSettings(message: SettingsMessage | undefined, provider: Provider, endpoint: string): ProviderSettings {
  const settings: ProviderSettings = {};
  const given = message ?? ({} as Partial<SettingsMessage>);
  const names = new Set([...Object.keys(given), ...Object.keys(provider.settings)].filter((key) => key !== '$typeName')) as Set<SettingName>;
  for (const name of names) {
    const spec = provider.settings[name];
    const raw = given[name];
    const value = typeof raw === 'string' ? raw.trim() : raw;
    const field = `settings.${apiName(name)}`;
    if (value === undefined || value === '' || value === false) {
      if (spec?.required) throw invalid(`${provider.name} destinations need ${field} (${spec.about})`);
      continue;
    }
    if (!spec) {
      const takes = Object.keys(provider.settings).map((key) => `settings.${apiName(key)}`);
      throw invalid(`${field} does not apply to ${provider.name} destinations (${takes.length > 0 ? `they take ${takes.join(', ')}` : 'they take no settings'})`);
    }
    if (spec.kind === 'flag') {
      if (value !== true) throw invalid(`${field} is true or false`);
      (settings as Record<string, boolean>)[name] = true;
      continue;
    }
    if (typeof value !== 'string') throw invalid(`${field} is text`);
    const problem = spec.check?.(bounded(value, field, limits.setting));
    if (problem) throw invalid(problem);
    (settings as Record<string, string>)[name] = value;
  }
  const problem = provider.checkSettings?.(settings, new URL(endpoint));
  if (problem) throw invalid(problem);
  return settings;
}

/** The credential fields given in a request; each must belong to the provider. */
function givenCredentials(input: Partial<Record<string, string>>, provider: Provider): Credentials {
  const given: Credentials = {};
  for (const field of credentialFields) {
    const value = input[field];
    if (value === undefined || value === '') continue;
    const name = apiName(field);
    if (!(field in provider.credentials)) {
      throw invalid(`${provider.name} destinations take ${credentialsOf(provider).map(apiName).join(' and ')}; ${name} does not apply`);
    }
    if (value.trim() !== value) throw invalid(`${name} must not start or end with spaces`);
    given[field] = bounded(value, name, limits.credential);
  }
  return given;
}

function requireComplete(credentials: Credentials, provider: Provider): void {
  const missing = credentialsOf(provider).filter((field) => !credentials[field]);
  if (missing.length > 0) throw invalid(`${provider.name} destinations need ${missing.map(apiName).join(' and ')}`);
}

export function parseNewDestination(request: CreateDestinationRequest, allowInsecure: boolean): NewDestination {
  const provider = parseProvider(request.provider);
  const endpoint = parseEndpoint(request.endpoint, allowInsecure);
  const credentials = givenCredentials(request as unknown as Record<string, string>, provider);
  requireComplete(credentials, provider);
  const name = bounded(request.name.trim(), 'name', limits.name) || `${provider.name} ${new URL(endpoint).host}`;
  return {
    name,
    provider: provider.name,
    endpoint,
    enabled: request.enabled ?? true,
    settings: parseSettings(request.settings, provider, endpoint),
    credentials,
    filters: request.filters ? parseFilters(request.filters) : [],
    masking: request.masking ? parseMasking(request.masking) : [],
    format: parseFormat(request.format),
  };
}

function parseFormat(raw: string): DestinationFormat {
  if (raw === '') return 'auditstream';
  if (!(destinationFormats as readonly string[]).includes(raw)) throw invalid(`format must be one of ${destinationFormats.join(', ')} (got "${raw.slice(0, 40)}")`);
  return raw as DestinationFormat;
}

/** A destination's masking rules (src/subscription/masking.ts). */
export function parseMasking(message: MaskingMessage): MaskRule[] {
  try {
    return parseMaskRules(message.rules);
  } catch (error) {
    if (error instanceof MaskingError) throw invalid(error.message);
    throw error;
  }
}

/** A destination's filters (CloudEvents Subscriptions API dialects: src/subscription/filter.ts). */
export function parseFilters(message: ListValue): SubscriptionFilter[] {
  let json: unknown;
  try {
    json = toJson(ListValueSchema, message);
  } catch (error) {
    // Only a binary request can carry this: a google.protobuf.Value with none of its kinds set.
    throw invalid(`filters: ${errorMessage(error)}: set one of its kinds (struct_value for an expression, string_value for a value)`);
  }
  try {
    return parseSubscriptionFilters(json);
  } catch (error) {
    if (error instanceof SubscriptionFilterError) throw invalid(error.message);
    throw error;
  }
}

export function parseDestinationChanges(
  request: UpdateDestinationRequest,
  provider: Provider,
  currentEndpoint: string,
  allowInsecure: boolean,
): DestinationChanges {
  const changes: DestinationChanges = {};
  if (request.name !== undefined) changes.name = required(request.name, 'name', limits.name).trim();
  if (request.endpoint !== undefined) changes.endpoint = parseEndpoint(request.endpoint, allowInsecure);
  if (request.enabled !== undefined) changes.enabled = request.enabled;
  if (request.filters !== undefined) changes.filters = parseFilters(request.filters);
  if (request.masking !== undefined) changes.masking = parseMasking(request.masking);
  if (request.format !== undefined) changes.format = parseFormat(request.format);
  if (request.settings !== undefined) {
    changes.settings = parseSettings(request.settings, provider, changes.endpoint ?? currentEndpoint);
  }
  const credentialInput: Record<string, string> = {};
  for (const field of credentialFields) {
    const value = (request as unknown as Record<string, string | undefined>)[field];
    if (value === undefined) continue;
    if (value === '') throw invalid(`${apiName(field)} cannot be set to empty; leave it out to keep it`);
    credentialInput[field] = value;
  }
  const credentials = givenCredentials(credentialInput, provider);
  if (Object.keys(credentials).length > 0) changes.credentials = credentials;
  return changes;
}

/** A segment of a request's path, percent-decoded; a malformed escape is the caller's to fix. */
export function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalid(`the path has a malformed %-escape in "${segment.slice(0, 80)}": escape "%" as %25`);
  }
}

export function parseDestinationId(raw: string): string {
  if (!/^dst_[a-z0-9]{1,64}$/.test(raw)) throw invalid(`id must be a destination id such as dst_… (got "${raw.slice(0, 80)}")`);
  return raw;
}

// ---- events ----

const forbiddenKeys = new Set(['__proto__', 'constructor', 'prototype']);

function checkMetadata(value: unknown, path: string, depth: number, insideArray: boolean): void {
  if (depth > limits.metadataDepth) throw invalid(`${path} is nested deeper than ${limits.metadataDepth} levels`);
  if (Array.isArray(value)) {
    if (insideArray) throw invalid(`${path} is an array inside an array, which cannot be stored; wrap it in an object`);
    value.forEach((item, index) => checkMetadata(item, `${path}[${index}]`, depth + 1, true));
    return;
  }
  if (typeof value === 'string') wellFormed(value, path);
  if (value === null || typeof value !== 'object') return;
  // A `__proto__` key with an object value comes out of protobuf's decoding as the object's
  // prototype (the JSON paths refuse it before decoding, see json-body.ts).
  if (Object.getPrototypeOf(value) !== Object.prototype) throw invalid(`${path} has a key "__proto__", which is reserved; rename it`);
  for (const [key, child] of Object.entries(value)) {
    const at = `${path}.${key}`;
    if (key === '') throw invalid(`${path} has an empty key`);
    if (key.length > limits.metadataKey) throw invalid(`${path} has a key longer than ${limits.metadataKey} characters`);
    if (key.startsWith('$')) throw invalid(`${path} key "${key}" starts with "$", which cannot be stored; rename it`);
    if (key.includes('.')) throw invalid(`${path} key "${key}" contains ".", which cannot be stored; use "_" or nest objects`);
    if (key.includes('\u0000')) throw invalid(`${path} has a key containing a NUL character`);
    if (forbiddenKeys.has(key)) throw invalid(`${path} key "${key}" is reserved; rename it`);
    wellFormed(key, `${path} key`);
    checkMetadata(child, at, depth + 1, false);
  }
}

function parseOptionalTimestamp(value: Timestamp | undefined, field: string, now: Date): Date {
  if (!value) return now;
  if (value.nanos < 0 || value.nanos > 999_999_999) throw invalid(`${field} has invalid nanos`);
  const date = timestampDate(value);
  const latest = now.getTime() + 24 * 3600_000;
  if (Number.isNaN(date.getTime()) || date.getTime() < 0 || date.getTime() > latest) {
    throw invalid(`${field} must be a time between 1970 and one day from now (got ${value.seconds}s)`);
  }
  return date;
}

function optionalText(value: string, field: string): string | undefined {
  return value === '' ? undefined : bounded(value, field, limits.field);
}

function compact<T extends Record<string, unknown>>(value: T): T | undefined {
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  return entries.length === 0 ? undefined : (Object.fromEntries(entries) as T);
}

export function parseEvent(message: AuditEventMessage | undefined, field: string, now: Date): AuditEvent {
  if (!message) throw invalid(`${field} is required`);
  const id = message.id === '' ? randomUUID() : message.id;
  if (!/^[\x21-\x7e]+$/.test(id) || id.length > limits.eventId) {
    throw invalid(`${field}.id must be 1–${limits.eventId} printable ASCII characters without spaces`);
  }
  const outcome = (message.outcome.trim().toLowerCase() || 'unknown') as EventOutcome;
  if (!eventOutcomes.includes(outcome)) {
    throw invalid(`${field}.outcome must be one of ${eventOutcomes.join(', ')} (got "${message.outcome.slice(0, 40)}")`);
  }
  const actor = message.actor;
  if (actor && actor.ip !== '' && isIP(actor.ip) === 0) throw invalid(`${field}.actor.ip must be an IPv4 or IPv6 address`);
  let metadata: Record<string, unknown> | undefined;
  if (message.metadata && Object.keys(message.metadata).length > 0) {
    const size = Buffer.byteLength(JSON.stringify(message.metadata));
    if (size > limits.metadataBytes) throw invalid(`${field}.metadata is ${size} bytes as JSON; the limit is ${limits.metadataBytes}`);
    checkMetadata(message.metadata, `${field}.metadata`, 0, false);
    metadata = message.metadata;
  }
  const event: AuditEvent = {
    id,
    occurredAt: parseOptionalTimestamp(message.occurredAt, `${field}.occurred_at`, now),
    receivedAt: now,
    action: required(message.action, `${field}.action`, limits.action),
    outcome,
  };
  const actorValue =
    actor &&
    compact({
      type: optionalText(actor.type, `${field}.actor.type`),
      id: optionalText(actor.id, `${field}.actor.id`),
      name: optionalText(actor.name, `${field}.actor.name`),
      ip: optionalText(actor.ip, `${field}.actor.ip`),
      userAgent: optionalText(actor.userAgent, `${field}.actor.user_agent`),
    });
  if (actorValue) event.actor = actorValue;
  const resource = message.resource;
  const resourceValue =
    resource &&
    compact({
      type: optionalText(resource.type, `${field}.resource.type`),
      id: optionalText(resource.id, `${field}.resource.id`),
      name: optionalText(resource.name, `${field}.resource.name`),
    });
  if (resourceValue) event.resource = resourceValue;
  const requestId = optionalText(message.requestId, `${field}.request_id`);
  if (requestId) event.requestId = requestId;
  if (metadata) event.metadata = metadata;
  return event;
}

export function parseEventBatch(messages: AuditEventMessage[], now: Date): AuditEvent[] {
  if (messages.length === 0) throw invalid('events must hold at least one event');
  if (messages.length > limits.eventsPerBatch) {
    throw invalid(`at most ${limits.eventsPerBatch} events per call (got ${messages.length}); split the batch`);
  }
  return messages.map((message, index) => parseEvent(message, `events[${index}]`, now));
}

// ---- the audit log ----

export const pageSizes = { default: 100, max: 1_000 } as const;

/** A filter as the audit log applies it; `key` names it, so a cursor can be tied to it. */
export function parseEventFilter(message: EventFilterMessage | undefined): { filter: AuditFilter; key: string } {
  const filter: AuditFilter = {};
  if (message?.occurredAfter) filter.occurredAfter = timestampDate(message.occurredAfter);
  if (message?.occurredBefore) filter.occurredBefore = timestampDate(message.occurredBefore);
  if (filter.occurredAfter && filter.occurredBefore && filter.occurredAfter >= filter.occurredBefore) {
    throw invalid('filter.occurred_after must be before filter.occurred_before');
  }
  const text = (value: string | undefined, field: string) => (value ? bounded(value, `filter.${field}`, limits.field) : undefined);
  const action = text(message?.action, 'action');
  const actionPrefix = text(message?.actionPrefix, 'action_prefix');
  if (action && actionPrefix) throw invalid('give filter.action or filter.action_prefix, not both');
  if (action) filter.action = action;
  if (actionPrefix) filter.actionPrefix = actionPrefix;
  const actorId = text(message?.actorId, 'actor_id');
  if (actorId) filter.actorId = actorId;
  const resourceType = text(message?.resourceType, 'resource_type');
  if (resourceType) filter.resourceType = resourceType;
  const resourceId = text(message?.resourceId, 'resource_id');
  if (resourceId) filter.resourceId = resourceId;
  const subjectId = text(message?.subjectId, 'subject_id');
  if (subjectId) filter.subjectId = subjectId;
  const outcomeOf = (value: string, field: string) => {
    const outcome = value.trim().toLowerCase() as EventOutcome;
    if (!eventOutcomes.includes(outcome)) throw invalid(`${field} must be one of ${eventOutcomes.join(', ')} (got "${value.slice(0, 40)}")`);
    return outcome;
  };
  if (message?.outcome) filter.outcome = outcomeOf(message.outcome, 'filter.outcome');
  if (message?.outcomes.length) {
    if (filter.outcome) throw invalid('give filter.outcome or filter.outcomes, not both');
    filter.outcomes = [...new Set(message.outcomes.map((value, i) => outcomeOf(value, `filter.outcomes[${i}]`)))].sort();
  }
  const key = createHash('sha256').update(JSON.stringify(filter)).digest('base64url').slice(0, 16);
  return { filter, key };
}

/** Where a query goes on: the seq read through and the chunk to read next, for one filter. Opaque to clients. */
export function encodeCursor(position: LogPosition, filterKey: string): string {
  return Buffer.from(JSON.stringify({ s: position.seq, c: position.chunk, f: filterKey })).toString('base64url');
}

/** The position a cursor names; none: the start of the log (`chunk` undefined: from its floor). */
export function parseCursor(raw: string, filterKey: string): { seq: number; chunk?: number } {
  if (raw === '') return { seq: 0 };
  let decoded: { s?: unknown; c?: unknown; f?: unknown };
  try {
    decoded = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalid('cursor is not one this service gave: pass next_cursor unchanged, or none to start from the beginning');
  }
  const whole = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0;
  if (!whole(decoded.s) || !whole(decoded.c) || typeof decoded.f !== 'string') {
    throw invalid('cursor is not one this service gave: pass next_cursor unchanged, or none to start from the beginning');
  }
  if (decoded.f !== filterKey) throw invalid('cursor belongs to a query with another filter or order: repeat that query, or start again without a cursor');
  return { seq: decoded.s, chunk: decoded.c };
}

export function parsePageSize(raw: number): number {
  if (raw === 0) return pageSizes.default;
  if (!Number.isInteger(raw) || raw < 1 || raw > pageSizes.max) throw invalid(`page_size must be 1 to ${pageSizes.max} (got ${raw})`);
  return raw;
}

export function parseRetentionDays(days: number, floorDays = retentionBounds.minDays): number {
  if (!Number.isInteger(days) || days < floorDays || days > retentionBounds.maxDays) {
    throw invalid(`retention days must be a whole number from ${floorDays} to ${retentionBounds.maxDays} (got ${days})`);
  }
  return days;
}

export function parseExportFormat(raw: string): ExportFormat {
  const format = (raw.trim().toLowerCase() || 'ndjson') as ExportFormat;
  if (format !== 'ndjson' && format !== 'csv') throw invalid(`format must be ndjson or csv (got "${raw.slice(0, 40)}")`);
  return format;
}

/** A compliance preset decides the format and needs some of the filter (README, "Compliance exports"). */
export function parseExportPreset(raw: string, filter: AuditFilter, format: string): { preset?: ExportPreset; format: ExportFormat } {
  const preset = raw.trim().toLowerCase();
  if (preset === '') return { format: parseExportFormat(format) };
  const fixed = (wanted: ExportFormat) => {
    if (format !== '' && format.trim().toLowerCase() !== wanted) throw invalid(`the ${preset} preset is ${wanted}; leave format out`);
    return wanted;
  };
  if (preset === 'soc2') {
    if (!filter.occurredAfter || !filter.occurredBefore) throw invalid('the soc2 preset exports an audit period: give filter.occurred_after and filter.occurred_before');
    return { preset, format: fixed('ndjson') };
  }
  if (preset === 'hipaa') return { preset, format: fixed('csv') };
  if (preset === 'gdpr-access') {
    if (!filter.subjectId) throw invalid('the gdpr-access preset exports one data subject: give filter.subject_id');
    return { preset, format: fixed('ndjson') };
  }
  throw invalid(`preset must be soc2, hipaa or gdpr-access (got "${raw.slice(0, 40)}")`);
}

/** HIPAA §164.316(b)(2): documentation is kept six years. */
export const hipaaRetentionDays = 2190;

export function parseExportId(raw: string): string {
  if (!/^exp_[a-z0-9]{20,40}$/.test(raw)) throw new ConnectError(`export ${raw.slice(0, 60)} not found`, Code.NotFound);
  return raw;
}

export function parseEventId(raw: string): string {
  if (!/^[\x21-\x7e]+$/.test(raw) || raw.length > limits.eventId) throw invalid(`id must be 1–${limits.eventId} printable ASCII characters without spaces`);
  return raw;
}
