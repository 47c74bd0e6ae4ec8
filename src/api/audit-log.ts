// The audit-log handlers (AuditLogService), shared by gRPC, Connect and the REST aliases:
// query and get events, read and change retention, start and follow exports.
import { create, type JsonObject, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { randomBytes } from 'node:crypto';
import {
  type CreateExportRequest,
  type CreateExportResponse,
  CreateExportResponseSchema,
  EventFilterSchema,
  type Export,
  ExportSchema,
  type GetEventResponse,
  GetEventResponseSchema,
  type GetExportResponse,
  GetExportResponseSchema,
  type GetRetentionResponse,
  GetRetentionResponseSchema,
  type ListExportsResponse,
  ListExportsResponseSchema,
  type QueryEventsRequest,
  type QueryEventsResponse,
  QueryEventsResponseSchema,
  type UpdateRetentionRequest,
  type UpdateRetentionResponse,
  UpdateRetentionResponseSchema,
} from '../gen/auditstream/v1/audit_pb.js';
import { AuditEventSchema, type AuditEvent as AuditEventMessage } from '../gen/auditstream/v1/events_pb.js';
import { actorOf, type ServiceEvents } from '../audit/self-audit.js';
import { errorMessage, log } from '../log.js';
import type { AuditEvent, AuditFilter } from '../model.js';
import type { Caller } from '../store/api-keys.js';
import type { AuditLog } from '../store/audit-log.js';
import type { ExportStore } from '../store/exports.js';
import type { ExportDoc } from '../store/mongo.js';
import type { RetentionStore } from '../store/retention.js';
import type { AuditJobs } from '../temporal/audit-jobs.js';
import { encodeCursor, hipaaRetentionDays, parseCursor, parseEventFilter, parseEventId, parseExportId, parseExportPreset, parsePageSize, parseRetentionDays } from './validate.js';

const date = (value: Date | undefined): Timestamp | undefined => (value ? timestampFromDate(value) : undefined);

export function toEventMessage(event: AuditEvent): AuditEventMessage {
  return create(AuditEventSchema, {
    id: event.id,
    occurredAt: date(event.occurredAt),
    receivedAt: date(event.receivedAt),
    action: event.action,
    outcome: event.outcome,
    actor: event.actor,
    resource: event.resource,
    requestId: event.requestId ?? '',
    metadata: event.metadata as JsonObject | undefined,
  });
}

export function toFilterMessage(filter: AuditFilter): MessageInitShape<typeof EventFilterSchema> {
  return { ...filter, occurredAfter: date(filter.occurredAfter), occurredBefore: date(filter.occurredBefore), outcome: filter.outcome ?? '' };
}

export function toExportMessage(doc: ExportDoc): Export {
  return create(ExportSchema, {
    id: doc._id,
    state: doc.state,
    filter: toFilterMessage(doc.filter),
    format: doc.format,
    gzip: doc.gzip,
    eventCount: BigInt(doc.count),
    sizeBytes: BigInt(doc.size),
    sha256: doc.sha256,
    createdAt: date(doc.createdAt),
    finishedAt: date(doc.finishedAt),
    expiresAt: date(doc.expiresAt),
    failure: doc.failure ?? '',
    downloadPath: doc.state === 'ready' ? `/v1/audit/exports/${doc._id}/download` : '',
    preset: doc.preset ?? '',
    manifest: doc.manifest ?? '',
  });
}

export interface AuditLogApiOptions {
  /** How long an export's file is kept. */
  exportTtlMs: number;
}

export class AuditLogApi {
  constructor(
    private readonly auditLog: AuditLog,
    private readonly retention: RetentionStore,
    private readonly exports: ExportStore,
    private readonly jobs: AuditJobs,
    private readonly serviceEvents: ServiceEvents,
    private readonly options: AuditLogApiOptions,
  ) {}

  async query(tenantId: string, request: QueryEventsRequest): Promise<QueryEventsResponse> {
    const { filter, key: filterKey } = parseEventFilter(request.filter);
    // A cursor belongs to its filter and its order: one made for the other order is refused.
    const key = request.newestFirst ? `${filterKey}-newest` : filterKey;
    const pageSize = parsePageSize(request.pageSize);
    const cursor = parseCursor(request.cursor, key);
    const page = request.newestFirst
      ? await this.auditLog.pageBackward(tenantId, filter, request.cursor === '' ? undefined : { seq: cursor.seq, chunk: cursor.chunk! }, pageSize)
      : await this.auditLog.page(tenantId, filter, cursor, pageSize);
    return create(QueryEventsResponseSchema, { events: page.events.map(toEventMessage), nextCursor: encodeCursor(page.next, key), more: page.more });
  }

  async get(tenantId: string, rawId: string): Promise<GetEventResponse> {
    const id = parseEventId(rawId);
    const event = await this.auditLog.get(tenantId, id);
    if (!event) throw new ConnectError(`event ${id} not found`, Code.NotFound);
    return create(GetEventResponseSchema, { event: toEventMessage(event) });
  }

  private async retentionMessage(tenantId: string) {
    const [settings, lastRun, nextRunAt] = await Promise.all([
      this.retention.settings(tenantId),
      this.retention.lastRun(tenantId),
      this.jobs.nextRetentionRun().catch((error) => {
        log.warn('could not read the retention schedule', { error: errorMessage(error) });
        return undefined;
      }),
    ]);
    return {
      days: settings.retentionDays,
      legalHold: settings.legalHold,
      hipaa: settings.hipaa,
      nextRunAt: date(nextRunAt),
      lastRun: lastRun ? { at: date(lastRun.at), cutoff: date(lastRun.cutoff), deleted: BigInt(lastRun.deleted), held: lastRun.held } : undefined,
    };
  }

  async getRetention(tenantId: string): Promise<GetRetentionResponse> {
    return create(GetRetentionResponseSchema, { retention: await this.retentionMessage(tenantId) });
  }

  async updateRetention(caller: Caller, request: UpdateRetentionRequest): Promise<UpdateRetentionResponse> {
    const tenantId = caller.tenantId;
    const before = await this.retention.settings(tenantId);
    const hipaa = request.hipaa ?? before.hipaa;
    const days = request.days !== undefined ? parseRetentionDays(request.days) : before.retentionDays;
    if (hipaa && days < hipaaRetentionDays) {
      throw new ConnectError(
        `HIPAA needs audit records kept six years (§164.316(b)(2)): with hipaa on, retention days must be at least ${hipaaRetentionDays} (got ${days})`,
        Code.FailedPrecondition,
      );
    }
    const change = {
      ...(request.days !== undefined ? { retentionDays: days } : {}),
      ...(request.legalHold !== undefined ? { legalHold: request.legalHold } : {}),
      ...(request.hipaa !== undefined ? { hipaa: request.hipaa } : {}),
    };
    const after = await this.retention.update(tenantId, change);
    await this.serviceEvents.tryRecord(tenantId, {
      action: 'audit.retention.updated',
      actor: actorOf(caller),
      resource: { type: 'audit_retention', id: tenantId },
      metadata: { days: after.retentionDays, previousDays: before.retentionDays, legalHold: after.legalHold, previousLegalHold: before.legalHold, hipaa: after.hipaa },
    });
    return create(UpdateRetentionResponseSchema, { retention: await this.retentionMessage(tenantId) });
  }

  async createExport(caller: Caller, request: CreateExportRequest): Promise<CreateExportResponse> {
    const tenantId = caller.tenantId;
    const { filter } = parseEventFilter(request.filter);
    const { preset, format } = parseExportPreset(request.preset, filter, request.format);
    const now = new Date();
    const doc: ExportDoc = {
      _id: `exp_${randomBytes(15).toString('hex')}`,
      tenantId,
      state: 'pending',
      filter,
      format,
      gzip: request.gzip,
      ...(preset ? { preset } : {}),
      count: 0,
      size: 0,
      sha256: '',
      chunks: 0,
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.options.exportTtlMs),
    };
    await this.exports.create(doc);
    try {
      await this.jobs.startExport(doc._id);
    } catch (error) {
      log.error('could not start an export', { exportId: doc._id, error: errorMessage(error) });
      throw new ConnectError('the export could not be started: the job service is unreachable; try again', Code.Unavailable);
    }
    await this.serviceEvents.tryRecord(tenantId, {
      action: 'audit.export.created',
      actor: actorOf(caller),
      resource: { type: 'audit_export', id: doc._id },
      metadata: { format, gzip: request.gzip, ...(preset ? { preset } : {}), filter: JSON.parse(JSON.stringify(filter)) },
    });
    return create(CreateExportResponseSchema, { export: toExportMessage(doc) });
  }

  async find(tenantId: string, rawId: string): Promise<ExportDoc> {
    const id = parseExportId(rawId);
    const doc = await this.exports.get(tenantId, id);
    if (!doc) throw new ConnectError(`export ${id} not found`, Code.NotFound);
    return doc;
  }

  async getExport(tenantId: string, id: string): Promise<GetExportResponse> {
    return create(GetExportResponseSchema, { export: toExportMessage(await this.find(tenantId, id)) });
  }

  async listExports(tenantId: string): Promise<ListExportsResponse> {
    return create(ListExportsResponseSchema, { exports: (await this.exports.list(tenantId)).map(toExportMessage) });
  }
}
