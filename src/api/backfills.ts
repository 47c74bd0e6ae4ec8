// Backfills: replay a range of the audit log into one destination (DestinationService's
// BackfillDestination, GetBackfill, ListBackfills, CancelBackfill). What a backfill covers is
// decided here, from the tenant's own audit log: a filter over it, or the exact gap of the
// destination's last disabled period or failure, found from the service's own events about
// the destination (they are in the same sequence as the events, so the gap is exact). The
// destination's workflow does the replaying.
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { randomBytes } from 'node:crypto';
import {
  type Backfill,
  type BackfillDestinationRequest,
  type BackfillDestinationResponse,
  BackfillDestinationResponseSchema,
  BackfillSchema,
  type CancelBackfillResponse,
  CancelBackfillResponseSchema,
  type GetBackfillResponse,
  GetBackfillResponseSchema,
  type ListBackfillsResponse,
  ListBackfillsResponseSchema,
} from '../gen/auditstream/v1/destinations_pb.js';
import { actorOf, isAboutDestination, type ServiceEvents } from '../audit/self-audit.js';
import { subscriptionMatcher } from '../subscription/filter.js';
import { errorMessage, log } from '../log.js';
import type { Caller } from '../store/api-keys.js';
import type { AuditFilter } from '../model.js';
import type { AuditLog } from '../store/audit-log.js';
import type { BackfillStore } from '../store/backfills.js';
import type { DestinationStore } from '../store/destinations.js';
import type { BackfillDoc, DestinationDoc } from '../store/mongo.js';
import type { DestinationWorkflows } from '../temporal/destinations.js';
import { toFilterMessage } from './audit-log.js';
import { invalid, parseDestinationId, parseEventFilter } from './validate.js';

interface Scope {
  scope: BackfillDoc['scope'];
  filter: AuditFilter;
  fromSeq: number;
  lastSeq: number;
}

const date = (value: Date | undefined) => (value ? timestampFromDate(value) : undefined);

export function toBackfillMessage(doc: BackfillDoc): Backfill {
  const span = Math.max(1, doc.lastSeq - doc.fromSeq + 1);
  const gone = doc.state === 'done' ? span : Math.min(span, Math.max(0, doc.nextSeq - doc.fromSeq));
  return create(BackfillSchema, {
    id: doc._id,
    destinationId: doc.destinationId,
    scope: doc.scope,
    filter: toFilterMessage(doc.filter),
    state: doc.state,
    total: BigInt(doc.total),
    delivered: BigInt(doc.delivered),
    rejected: BigInt(doc.rejected),
    progressPercent: Math.floor((gone / span) * 100),
    reason: doc.reason ?? '',
    createdAt: date(doc.createdAt),
    finishedAt: date(doc.finishedAt),
  });
}

export class BackfillsApi {
  constructor(
    private readonly destinations: DestinationStore,
    private readonly auditLog: AuditLog,
    private readonly backfills: BackfillStore,
    private readonly workflows: DestinationWorkflows,
    private readonly serviceEvents: ServiceEvents,
  ) {}

  private async destination(tenantId: string, rawId: string): Promise<DestinationDoc> {
    const id = parseDestinationId(rawId);
    const doc = await this.destinations.get(tenantId, id);
    if (!doc) throw new ConnectError(`destination ${id} not found`, Code.NotFound);
    return doc;
  }

  /** The service's own events about the destination, oldest first: its history as the log tells it. */
  private async history(tenantId: string, destinationId: string) {
    const events = [];
    for await (const event of this.auditLog.stream(tenantId, { resourceType: 'siem_destination', resourceId: destinationId, actionPrefix: 'siem.destination.' })) {
      if (event.id.startsWith('auditstream-')) events.push(event);
    }
    return events;
  }

  private async scopeOf(caller: Caller, doc: DestinationDoc, request: BackfillDestinationRequest): Promise<Scope> {
    const settled = (await this.auditLog.shownThrough(caller.tenantId)).seq;
    if (request.range.case === 'filter' || request.range.case === undefined) {
      return { scope: 'time_range', filter: parseEventFilter(request.range.value).filter, fromSeq: 0, lastSeq: settled };
    }
    const gap = request.range.value;
    const history = await this.history(caller.tenantId, doc._id);
    if (gap === 'disabled') {
      // A disable: an update that turned it off, or a creation disabled; the gap ends where it was turned on again.
      const turnedOff = (event: (typeof history)[number]) =>
        (event.action === 'siem.destination.created' && event.metadata?.enabled === false) ||
        (event.action === 'siem.destination.updated' && event.metadata?.enabled === false && (event.metadata?.changed as string[] | undefined)?.includes('enabled'));
      const off = history.findLastIndex(turnedOff);
      if (off === -1) throw invalid(`destination ${doc._id} has no disabled period in the audit log to backfill`);
      const on = history.slice(off + 1).find((event) => event.action === 'siem.destination.updated' && event.metadata?.enabled === true);
      if (!on) throw new ConnectError('the destination is still disabled: enable it first, then backfill the gap', Code.FailedPrecondition);
      // Exact: the seq each toggle took effect after (older logs: the toggle's own event, a little later).
      const effectiveAfter = (event: (typeof history)[number], fallback: number) => (typeof event.metadata?.effectiveAfterSeq === 'number' ? event.metadata.effectiveAfterSeq : fallback);
      return { scope: 'disabled', filter: {}, fromSeq: effectiveAfter(history[off], history[off].seq) + 1, lastSeq: effectiveAfter(on, on.seq - 1) };
    }
    if (gap === 'failed') {
      const failed = history.findLastIndex((event) => event.action === 'siem.destination.failed');
      if (failed === -1) throw invalid(`destination ${doc._id} has no failure in the audit log to backfill`);
      const began = history.slice(0, failed).findLast((event) => event.action === 'siem.destination.degraded' && event.metadata?.previousStatus === 'active');
      // Re-enabled by the update that left it enabled: from there on events went out live again.
      const reenabled = history.slice(failed + 1).find((event) => event.action === 'siem.destination.updated' && event.metadata?.enabled === true);
      if (!reenabled) throw new ConnectError('the destination is still failed: update it to re-enable it first, then backfill the gap', Code.FailedPrecondition);
      const from = typeof began?.metadata?.firstPendingSeq === 'number' ? began.metadata.firstPendingSeq : (began?.seq ?? history[failed].seq);
      return { scope: 'failed', filter: {}, fromSeq: from, lastSeq: reenabled.seq - 1 };
    }
    throw invalid(`gap must be "disabled" or "failed" (got "${gap.slice(0, 40)}")`);
  }

  /** Events the backfill sends: those of its range the destination's filters let through, less the service's own about it. */
  private async count(tenantId: string, doc: DestinationDoc, scope: Scope): Promise<number> {
    const receives = subscriptionMatcher(doc.filters);
    let count = 0;
    for await (const event of this.auditLog.stream(tenantId, scope.filter, { from: scope.fromSeq, to: scope.lastSeq })) {
      if (receives(event) && !isAboutDestination(event, doc._id)) count++;
    }
    return count;
  }

  async create(caller: Caller, request: BackfillDestinationRequest): Promise<BackfillDestinationResponse> {
    const doc = await this.destination(caller.tenantId, request.id);
    const scope = await this.scopeOf(caller, doc, request);
    const total = scope.lastSeq < scope.fromSeq ? 0 : await this.count(caller.tenantId, doc, scope);
    if (request.dryRun) return create(BackfillDestinationResponseSchema, { count: BigInt(total) });
    const running = await this.backfills.running(caller.tenantId, doc._id);
    if (running) throw new ConnectError(`backfill ${running._id} is still running for this destination: wait for it or cancel it`, Code.FailedPrecondition);
    const job: BackfillDoc = {
      _id: `bkf_${randomBytes(15).toString('hex')}`,
      tenantId: caller.tenantId,
      destinationId: doc._id,
      scope: scope.scope,
      filter: scope.filter,
      ...(doc.filters?.length ? { receives: doc.filters } : {}),
      fromSeq: scope.fromSeq,
      lastSeq: scope.lastSeq,
      total,
      delivered: 0,
      rejected: 0,
      nextSeq: scope.fromSeq,
      state: 'running',
      createdAt: new Date(),
    };
    await this.backfills.create(job);
    try {
      const answer = await this.workflows.startBackfill(doc, { id: job._id, fromSeq: job.fromSeq, lastSeq: job.lastSeq });
      if (!answer.started) throw new ConnectError(`backfill ${answer.running} is still running for this destination: wait for it or cancel it`, Code.FailedPrecondition);
    } catch (error) {
      await this.backfills.remove(job._id);
      if (error instanceof ConnectError) throw error;
      log.error('could not start a backfill', { destinationId: doc._id, error: errorMessage(error) });
      throw new ConnectError('the backfill could not be started: the delivery service is unreachable; try again', Code.Unavailable);
    }
    await this.serviceEvents.tryRecord(caller.tenantId, {
      action: 'siem.destination.backfill_started',
      actor: actorOf(caller),
      resource: { type: 'siem_destination', id: doc._id, name: doc.name },
      metadata: { backfillId: job._id, scope: job.scope, events: total },
      exclude: [doc._id],
    });
    return create(BackfillDestinationResponseSchema, { count: BigInt(total), backfill: toBackfillMessage(job) });
  }

  private async find(tenantId: string, destinationId: string, rawId: string): Promise<BackfillDoc> {
    const doc = await this.destination(tenantId, destinationId);
    const job = /^bkf_[a-z0-9]{20,40}$/.test(rawId) ? await this.backfills.get(tenantId, doc._id, rawId) : null;
    if (!job) throw new ConnectError(`backfill ${rawId.slice(0, 60)} not found`, Code.NotFound);
    return job;
  }

  async get(tenantId: string, destinationId: string, id: string): Promise<GetBackfillResponse> {
    return create(GetBackfillResponseSchema, { backfill: toBackfillMessage(await this.find(tenantId, destinationId, id)) });
  }

  async list(tenantId: string, destinationId: string): Promise<ListBackfillsResponse> {
    const doc = await this.destination(tenantId, destinationId);
    return create(ListBackfillsResponseSchema, { backfills: (await this.backfills.list(tenantId, doc._id)).map(toBackfillMessage) });
  }

  /** Stops it in the workflow, which records the end; answers the job as it then stands. */
  async cancel(caller: Caller, destinationId: string, id: string): Promise<CancelBackfillResponse> {
    const job = await this.find(caller.tenantId, destinationId, id);
    if (job.state !== 'running') throw new ConnectError(`backfill ${job._id} is ${job.state}: there is nothing to cancel`, Code.FailedPrecondition);
    const doc = await this.destination(caller.tenantId, destinationId);
    let answer: { cancelled: boolean };
    try {
      answer = await this.workflows.cancelBackfill(doc, job._id);
    } catch (error) {
      log.error('could not cancel a backfill', { destinationId: doc._id, backfillId: job._id, error: errorMessage(error) });
      throw new ConnectError(`backfill ${job._id} could not be cancelled: the delivery service is unreachable; try again`, Code.Unavailable);
    }
    // The workflow ended it meanwhile (done, or failed): nothing was cancelled.
    if (!answer.cancelled) throw new ConnectError(`backfill ${job._id} ended before it could be cancelled: see GetBackfill for how`, Code.FailedPrecondition);
    return create(CancelBackfillResponseSchema, { backfill: toBackfillMessage({ ...job, state: 'cancelled' }) });
  }
}
