// The destination handlers, shared by gRPC, gRPC-Web, Connect and the REST aliases.
import { create, fromJson } from '@bufbuild/protobuf';
import { ListValueSchema, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import {
  type CreateDestinationRequest,
  type CreateDestinationResponse,
  CreateDestinationResponseSchema,
  type DeleteDestinationResponse,
  DeleteDestinationResponseSchema,
  type Destination,
  DestinationSchema,
  type GetDestinationResponse,
  GetDestinationResponseSchema,
  type ListDestinationsResponse,
  ListDestinationsResponseSchema,
  type ListProvidersResponse,
  ListProvidersResponseSchema,
  type MaskTokenRequest,
  type MaskTokenResponse,
  MaskTokenResponseSchema,
  type TestDestinationRequest,
  type TestDestinationResponse,
  TestDestinationResponseSchema,
  type UpdateDestinationRequest,
  type UpdateDestinationResponse,
  UpdateDestinationResponseSchema,
} from '../gen/auditstream/v1/destinations_pb.js';
import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '../model.js';
import type { HttpClient } from '../providers/http.js';
import { errorMessage, log } from '../log.js';
import { allProviders, providerFor } from '../providers/index.js';
import { fallbackNote, sendTo } from '../providers/deliver.js';
import { apiName, credentialsOf, replaceCredentials, type DeliveryTarget } from '../providers/provider.js';
import { deliveryViewOf, initialDelivery, type DeliveryView, type DestinationChanges, type DestinationStore } from '../store/destinations.js';
import { LRUCache } from 'lru-cache';
import { actorOf, serviceActor, type AuditActor, type ServiceEvents } from '../audit/self-audit.js';
import type { Caller } from '../store/api-keys.js';
import type { DeliveryStateDoc, DestinationDoc, TenantDoc } from '../store/mongo.js';
import type { TenantStore } from '../store/tenants.js';
import type { DestinationWorkflows } from '../temporal/destinations.js';
import type { DestinationSnapshot } from '../../workflows/state.js';
import type { DeleteResult } from '../../workflows/messages.js';
import type { DependencyMonitor } from './dependencies.js';
import { owedOf, viewDuringOutage } from './delivery-status.js';
import { filtersAsJson, type SubscriptionFilter } from '../subscription/filter.js';
import type { TenantMasking } from '../subscription/masking.js';
import type { CheckpointStore } from '../store/checkpoints.js';
import { invalid, parseDestinationChanges, parseDestinationId, parseNewDestination } from './validate.js';

export interface DestinationsApiOptions {
  allowInsecureEndpoints: boolean;
  deleteFlushDeadlineMs: number;
  /** Outbound HTTPS for test deliveries. */
  http: HttpClient;
  /** Tenants' masking keys: test events are masked as live ones, and MaskToken answers from them. */
  masking: TenantMasking;
  /** Each destination's signed checkpoints: dropped with it once its workflow has ended. */
  checkpoints: CheckpointStore;
}

/** A tenant's destinations as read together: their workflows' records, and the tenant's counters. */
interface TenantDeliveries {
  docs: DestinationDoc[];
  states: (DeliveryStateDoc | null)[];
  tenant: TenantDoc | null;
}

/** How long previous credentials are kept when new ones are unproven. */
const fallbackKeptMs = 24 * 3600_000;

function notFound(id: string): ConnectError {
  return new ConnectError(`destination ${id} not found`, Code.NotFound);
}

function unavailable(what: string, error: unknown): ConnectError {
  log.error(`${what} failed`, { error: errorMessage(error) });
  return new ConnectError(`${what} failed: the delivery service is unreachable; try again`, Code.Unavailable);
}

const date = (value: Date | undefined) => (value ? timestampFromDate(value) : undefined);
export function toDestinationMessage(doc: DestinationDoc, delivery: DeliveryView): Destination {
  return create(DestinationSchema, {
    id: doc._id,
    name: doc.name,
    provider: doc.provider,
    endpoint: doc.endpoint,
    enabled: doc.enabled,
    status: delivery.status,
    statusReason: delivery.statusReason,
    credentials: doc.credentialHints,
    settings: doc.settings,
    counters: {
      delivered: BigInt(delivery.counters.delivered),
      dropped: BigInt(delivery.counters.dropped),
      rejected: BigInt(delivery.counters.rejected),
    },
    backlog: {
      events: BigInt(delivery.backlog.events),
      oldestEventAt: date(delivery.backlog.oldestEventAt),
      windowEndsAt: date(delivery.backlog.windowEndsAt),
    },
    createdAt: date(doc.createdAt),
    updatedAt: date(doc.updatedAt),
    lastDeliveredAt: date(delivery.lastDeliveredAt),
    lastErrorAt: date(delivery.lastErrorAt),
    filters: fromJson(ListValueSchema, filtersAsJson(doc.filters ?? [])),
    masking: { rules: doc.masking ?? [] },
    format: doc.format ?? 'auditstream',
  });
}

/**
 * Filters in an audit event's metadata: their JSON as text, since field names such as
 * "actor.type" cannot be keys of a stored document.
 */
function filtersText(filters: SubscriptionFilter[]): string {
  return JSON.stringify(filtersAsJson(filters));
}

/** A setting's label: its API name in words ("log_group" → "Log group"). */
function labelOf(name: string): string {
  const words = name.replace(/_/g, ' ');
  return words[0].toUpperCase() + words.slice(1);
}

/** The providers' own declarations, as the API validates them (see ListProviders in the proto). */
export function describeProviders(): ListProvidersResponse {
  return create(ListProvidersResponseSchema, {
    providers: allProviders().map((provider) => ({
      name: provider.name,
      title: provider.title,
      transport: provider.transport,
      endpointExample: provider.endpointExample,
      setup: [...provider.setup],
      credentials: credentialsOf(provider).map((field) => ({ name: apiName(field), ...provider.credentials[field]!, required: true, kind: 'secret' })),
      settings: Object.entries(provider.settings).map(([name, spec]) => ({ name: apiName(name), label: labelOf(apiName(name)), about: spec.about, required: spec.required ?? false, kind: spec.kind })),
    })),
  });
}

export class DestinationsApi {
  constructor(
    private readonly store: DestinationStore,
    private readonly tenants: TenantStore,
    private readonly workflows: DestinationWorkflows,
    private readonly serviceEvents: ServiceEvents,
    private readonly dependencies: Pick<DependencyMonitor, 'current'>,
    private readonly options: DestinationsApiOptions,
  ) {}

  /**
   * Deletions that no DELETE finished (Temporal unreachable), by id, with when each began:
   * those this process left, and, once read at the first sweep, those a previous process left.
   */
  private readonly unfinishedDeletions = new Map<string, { doc: DestinationDoc; since: number }>();
  private previousDeletionsRead = false;

  /** Each tenant's last whole List read, answered from while the store is unreachable. */
  private readonly lastRead = new LRUCache<string, TenantDeliveries>({ max: 1_000 });

  /**
   * What was done to a destination, into its tenant's audit log (never its credentials), and
   * so to the tenant's other destinations: a SIEM learns that its audit stream was redirected
   * or removed. Not to the destination itself, which is what the event is about.
   */
  private audited(actor: AuditActor, action: string, doc: DestinationDoc, metadata: Record<string, unknown> = {}): Promise<void> {
    return this.serviceEvents.tryRecord(doc.tenantId, {
      action: `siem.destination.${action}`,
      actor,
      resource: { type: 'siem_destination', id: doc._id, name: doc.name },
      metadata: { provider: doc.provider, ...metadata },
      exclude: [doc._id],
    });
  }

  private async find(tenantId: string, rawId: string): Promise<DestinationDoc> {
    const id = parseDestinationId(rawId);
    const doc = await this.store.get(tenantId, id);
    if (!doc) throw notFound(id);
    return doc;
  }

  /** The endpoint must not name or resolve to a non-public address (see providers/egress.ts). */
  private async checkEgress(endpoint: string): Promise<void> {
    const refusal = await this.options.http.options.egress.checkHost(new URL(endpoint).hostname);
    if (refusal) throw invalid(`endpoint ${refusal}: destinations must be reachable on a public address`);
  }

  async create(caller: Caller, request: CreateDestinationRequest): Promise<CreateDestinationResponse> {
    const tenantId = caller.tenantId;
    const input = parseNewDestination(request, this.options.allowInsecureEndpoints);
    await this.checkEgress(input.endpoint);
    // A disabled destination's gap begins after the events accepted before it existed: read
    // before it does, so none accepted meanwhile is left out. (An enabled one's is read as it is dispatched.)
    const existedAfter = input.enabled ? undefined : await this.tenants.head(tenantId);
    const doc = await this.store.create(tenantId, input);
    try {
      await this.workflows.start(doc);
    } catch (error) {
      await this.store.remove(doc);
      throw unavailable('creating the destination', error);
    }
    const effectiveAfterSeq = existedAfter ?? (await this.tenants.setDispatched(tenantId, doc._id, true, doc.filters));
    log.info('destination created', { tenantId, destinationId: doc._id, provider: doc.provider });
    await this.audited(actorOf(caller), 'created', doc, {
      endpoint: doc.endpoint,
      enabled: doc.enabled,
      effectiveAfterSeq,
      ...(doc.filters?.length ? { filters: filtersText(doc.filters) } : {}),
      ...(doc.masking?.length ? { masking: doc.masking } : {}),
    });
    return create(CreateDestinationResponseSchema, { destination: toDestinationMessage(doc, initialDelivery) });
  }

  async get(tenantId: string, rawId: string): Promise<GetDestinationResponse> {
    const id = parseDestinationId(rawId);
    const read = await this.readDeliveries(tenantId, async () => {
      const doc = await this.store.get(tenantId, id);
      return doc ? [doc] : [];
    });
    const found = read.docs.findIndex((doc) => doc._id === id);
    if (found === -1) throw notFound(id);
    return create(GetDestinationResponseSchema, { destination: this.shown(read, found) });
  }

  async list(tenantId: string): Promise<ListDestinationsResponse> {
    const read = await this.readDeliveries(tenantId, () => this.store.list(tenantId), { whole: true });
    return create(ListDestinationsResponseSchema, { destinations: read.docs.map((_, index) => this.shown(read, index)) });
  }

  /**
   * The destinations `docsOf` reads, with their workflows' records and the tenant's head. While
   * the store is unreachable, the tenant's last whole read, so that List still says what waits
   * and why; a tenant never read since this process started gets UNAVAILABLE.
   */
  private async readDeliveries(tenantId: string, docsOf: () => Promise<DestinationDoc[]>, options: { whole?: boolean } = {}): Promise<TenantDeliveries> {
    const recall = (error?: unknown) => {
      const recalled = this.lastRead.get(tenantId);
      if (!recalled) throw unavailable('reading the destinations', error ?? new Error('the store is unreachable'));
      return recalled;
    };
    if (this.dependencies.current().some((outage) => outage.dependency === 'store')) return recall();
    let read: TenantDeliveries;
    try {
      const docs = await docsOf();
      const [states, tenant] = await Promise.all([Promise.all(docs.map((doc) => this.store.deliveryState(doc._id))), this.tenants.get(tenantId)]);
      read = { docs, states, tenant };
    } catch (error) {
      return recall(error);
    }
    if (options.whole) this.lastRead.set(tenantId, read);
    return read;
  }

  /** Destination `index` of a read as Get and List show it: its workflow's record, or what an outage means for it. */
  private shown(read: TenantDeliveries, index: number): Destination {
    const doc = read.docs[index];
    const state = read.states[index];
    const dispatchedAll = (read.tenant?.destinations.includes(doc._id) ?? false) && !read.tenant?.filters?.[doc._id];
    const owed = owedOf(state, read.tenant?.seq, dispatchedAll);
    return toDestinationMessage(doc, viewDuringOutage(state ?? initialDelivery, owed, this.dependencies.current(), doc.enabled));
  }

  async update(caller: Caller, request: UpdateDestinationRequest): Promise<UpdateDestinationResponse> {
    const tenantId = caller.tenantId;
    const existing = await this.find(tenantId, request.id);
    const provider = providerFor(existing.provider)!;
    const changes = parseDestinationChanges(request, provider, existing.endpoint, this.options.allowInsecureEndpoints);
    if (changes.endpoint) await this.checkEgress(changes.endpoint);
    const now = new Date();
    // New credentials are tried before they replace what delivers now (a webhook's secret needs
    // not: the previous one keeps signing beside it).
    const check = changes.credentials && !provider.mergeCredentials ? await this.checkCredentials(existing, changes, now) : undefined;
    const updated = await this.store.update(
      existing,
      changes,
      (current, change) => (provider.mergeCredentials ?? replaceCredentials)(current, change, now),
      check?.keepPreviousUntil,
    );
    if (check?.keepPreviousUntil) this.fallbacks.add(updated._id);
    // The events after this seq are sent live or not as `enabled` now says (where a disabled
    // period's gap begins and ends), and chosen by the filters now given.
    const dispatchChanged = updated.enabled !== existing.enabled || (updated.enabled && changes.filters !== undefined);
    const effectiveAfterSeq = dispatchChanged ? await this.tenants.setDispatched(tenantId, updated._id, updated.enabled, updated.filters) : undefined;
    let state: DestinationSnapshot;
    try {
      state = await this.workflows.reconfigure(updated);
    } catch (error) {
      throw unavailable('applying the update to delivery (the change is saved; repeat the update)', error);
    }
    log.info('destination updated', { tenantId, destinationId: updated._id, enabled: updated.enabled });
    const changed = Object.keys(changes).map((field) => (field === 'credentials' ? `credentials (${Object.keys(changes.credentials!).map(apiName).join(', ')})` : field));
    await this.audited(actorOf(caller), 'updated', updated, {
      changed,
      enabled: updated.enabled,
      endpoint: updated.endpoint,
      ...(changes.filters === undefined ? {} : { filters: filtersText(changes.filters), previousFilters: filtersText(existing.filters ?? []) }),
      ...(changes.masking === undefined ? {} : { masking: changes.masking, previousMasking: existing.masking ?? [] }),
      ...(effectiveAfterSeq === undefined ? {} : { effectiveAfterSeq }),
      ...(check ? { credentialCheck: check.result } : {}),
    });
    // The workflow's answer to the update is newer than what it last mirrored.
    return create(UpdateDestinationResponseSchema, { destination: toDestinationMessage(updated, deliveryViewOf(state)), notice: check?.notice ?? '' });
  }

  /**
   * Tries new credentials with one test event before they are saved. Accepted, the previous
   * ones are forgotten; refused, or not known either way, they are kept for 24 hours as the
   * fallback of deliveries the destination refuses with the new ones.
   */
  private async checkCredentials(existing: DestinationDoc, changes: DestinationChanges, now: Date): Promise<{ keepPreviousUntil?: Date; result: string; notice: string }> {
    const current = this.store.targetOf(existing);
    const candidate: DeliveryTarget = {
      ...current,
      endpoint: changes.endpoint ?? current.endpoint,
      settings: changes.settings ?? current.settings,
      credentials: replaceCredentials(current.credentials, changes.credentials!),
    };
    const until = new Date(now.getTime() + fallbackKeptMs);
    const kept = `the previous one is kept until ${until.toISOString()}, or until the destination accepts the new one`;
    if (!(changes.enabled ?? existing.enabled)) {
      return { keepPreviousUntil: until, result: 'not checked: disabled', notice: `the new credential was not tried (the destination is disabled): ${kept}` };
    }
    const answer = await this.sendTestEvent(existing.tenantId, candidate);
    if (answer.ok) return { result: 'accepted', notice: '' };
    if (answer.outcome === 'config') {
      return { keepPreviousUntil: until, result: `refused: ${answer.message}`, notice: `${fallbackNote}: ${answer.message}; still delivering with the previous one (${kept})` };
    }
    return { keepPreviousUntil: until, result: `not checked: ${answer.message}`, notice: `the new credential could not be checked (${answer.message}): ${kept}` };
  }

  /** Destinations this process knows to keep previous credentials (the leader's; read whole once at its first look). */
  private readonly fallbacks = new Set<string>();
  private fallbacksRead = false;

  /**
   * Forgets previous credentials once they are no longer needed: the destination delivered
   * with the new ones since the change (its status is not the fallback's), or their time is
   * over. The leader, every sweep; answers how many it forgot.
   */
  async forgetProvenFallbacks(now = new Date()): Promise<number> {
    if (!this.fallbacksRead) {
      for (const doc of await this.store.withFallbacks()) this.fallbacks.add(doc._id);
      this.fallbacksRead = true;
    }
    let forgotten = 0;
    for (const id of [...this.fallbacks]) {
      const doc = await this.store.byId(id);
      const fallback = doc?.fallbackCredentials;
      if (!doc || !fallback) {
        this.fallbacks.delete(id);
        continue;
      }
      const state = await this.store.deliveryState(id);
      const proven = state?.lastDeliveredAt !== undefined && state.lastDeliveredAt > fallback.since && state.status === 'active' && !state.statusReason.startsWith(fallbackNote);
      if (!proven && fallback.until > now) continue;
      await this.store.forgetFallback(doc);
      this.fallbacks.delete(id);
      forgotten++;
      log.info('previous credentials forgotten', { destinationId: id, why: proven ? 'the new ones were accepted' : 'kept for 24 hours' });
    }
    return forgotten;
  }

  /**
   * Stops dispatching to the destination, marks it deleted (gone for every other call from then
   * on), and finishes the deletion. A DELETE of a destination whose deletion is under way (one
   * that Temporal did not answer in time) resumes it, as the API's sweeper does by itself.
   */
  async delete(caller: Caller, rawId: string): Promise<DeleteDestinationResponse> {
    const tenantId = caller.tenantId;
    const id = parseDestinationId(rawId);
    const doc = await this.store.get(tenantId, id, { deleting: true });
    if (!doc) throw notFound(id);
    if (!doc.deletingAt) {
      await this.tenants.setDispatched(tenantId, doc._id, false);
      await this.store.markDeleting(doc);
    }
    const result = await this.finishDeletion(doc, actorOf(caller));
    return create(DeleteDestinationResponseSchema, { flushed: BigInt(result.flushed), dropped: BigInt(result.dropped) });
  }

  /** Flushes and ends the destination's workflow, then removes its documents and audits the deletion. */
  private async finishDeletion(doc: DestinationDoc, actor: AuditActor): Promise<DeleteResult> {
    let result: DeleteResult;
    try {
      result = await this.workflows.delete(doc, this.options.deleteFlushDeadlineMs);
    } catch (error) {
      log.error('deleting a destination could not finish', { destinationId: doc._id, error: errorMessage(error) });
      if (!this.unfinishedDeletions.has(doc._id)) this.unfinishedDeletions.set(doc._id, { doc, since: doc.deletingAt?.getTime() ?? Date.now() });
      throw new ConnectError(
        `destination ${doc._id} is being deleted and receives no new events, but its delivery could not be flushed and ended ` +
          '(the delivery service is unreachable): the deletion completes by itself once it is back, or repeat the DELETE',
        Code.Unavailable,
      );
    }
    // Its workflow has ended, so no checkpoint is written after this; a crash before the
    // configuration is removed leaves it marked deleting, and this runs again.
    await this.options.checkpoints.dropAll(doc._id);
    await this.store.remove(doc);
    this.unfinishedDeletions.delete(doc._id);
    log.info('destination deleted', { tenantId: doc.tenantId, destinationId: doc._id, ...result });
    await this.audited(actor, 'deleted', doc, { flushedEvents: result.flushed, droppedEvents: result.dropped });
    return result;
  }

  /**
   * Finishes the deletions begun more than `staleAfterMs` ago that no DELETE finished; answers
   * how many it finished. The configurations are read whole once, for what a previous process
   * left; after that this process knows each deletion it leaves unfinished.
   */
  async finishAbandonedDeletions(staleAfterMs: number): Promise<number> {
    if (!this.previousDeletionsRead) {
      for (const doc of await this.store.deletionsUnderWay()) {
        if (!this.unfinishedDeletions.has(doc._id)) this.unfinishedDeletions.set(doc._id, { doc, since: doc.deletingAt!.getTime() });
      }
      this.previousDeletionsRead = true;
    }
    const before = Date.now() - staleAfterMs;
    let finished = 0;
    for (const { doc } of [...this.unfinishedDeletions.values()].filter(({ since }) => since < before)) {
      await this.finishDeletion(doc, serviceActor).then(
        () => finished++,
        () => undefined, // still unreachable: the next round tries again
      );
    }
    return finished;
  }

  /** The token a destination masking a field with "hmac" sends in place of `value`, for the caller's tenant. */
  maskToken(caller: Caller, request: MaskTokenRequest): MaskTokenResponse {
    if (request.value === '') throw invalid('value is required: the value whose token to answer');
    return create(MaskTokenResponseSchema, { token: this.options.masking.token(caller.tenantId, request.value) });
  }

  /** Sends one synthetic test event to a saved destination or a draft and reports the answer. */
  async test(caller: Caller, request: TestDestinationRequest): Promise<TestDestinationResponse> {
    const tenantId = caller.tenantId;
    let target: DeliveryTarget;
    let saved: DestinationDoc | undefined;
    if (request.target.case === 'id') {
      saved = await this.find(tenantId, request.target.value);
      target = this.store.targetOf(saved);
    } else if (request.target.case === 'draft') {
      const draft = parseNewDestination(request.target.value, this.options.allowInsecureEndpoints);
      await this.checkEgress(draft.endpoint);
      target = { id: `draft-${randomUUID()}`, tenantId, ...draft, draft: true };
    } else {
      throw invalid('give the id of a saved destination, or a draft destination to test');
    }
    const answer = await this.sendTestEvent(tenantId, target);
    // Every test is audited: a saved destination's, and a draft's (what was tried, and where).
    const result = { ok: answer.ok, outcome: answer.outcome, answer: answer.message };
    if (saved) await this.audited(actorOf(caller), 'tested', saved, result);
    else {
      const draftName = request.target.case === 'draft' ? request.target.value.name : '';
      await this.serviceEvents.tryRecord(tenantId, {
        action: 'siem.destination.tested',
        actor: actorOf(caller),
        resource: { type: 'siem_destination_draft', id: target.id, ...(draftName ? { name: draftName } : {}) },
        metadata: { provider: target.provider, endpoint: target.endpoint, draft: true, ...result },
      });
    }
    return create(TestDestinationResponseSchema, answer);
  }

  /** Sends one synthetic, clearly marked test event (masked as live ones would be) and says what the destination answered. */
  private async sendTestEvent(tenantId: string, target: DeliveryTarget): Promise<{ ok: boolean; outcome: string; message: string; eventId: string }> {
    const now = new Date();
    const event: AuditEvent = {
      id: `auditstream-test-${randomUUID()}`,
      occurredAt: now,
      receivedAt: now,
      action: 'auditstream.test_event',
      outcome: 'success',
      metadata: { test: true, note: 'Sent by auditstream to test this destination. Safe to ignore.' },
    };
    const provider = providerFor(target.provider);
    const masked = this.options.masking.masker(tenantId, target.masking)(event);
    const outcome = await sendTo(provider, [provider.encode(masked, target, now)], target, { http: this.options.http, now: () => new Date() });
    const answer = (ok: boolean, kind: string, message: string) => ({ ok, outcome: kind, message, eventId: event.id });
    switch (outcome.kind) {
      case 'ok':
        return answer(true, 'ok', outcome.note ?? `${provider.name} accepted the test event`);
      case 'partial':
        return answer(false, outcome.rejected.length > 0 ? 'rejected' : 'retry', outcome.rejected[0]?.reason ?? outcome.reason);
      case 'split':
        return answer(false, 'rejected', outcome.reason);
      default:
        return answer(false, outcome.kind, outcome.reason);
    }
  }
}
