// The I/O of the audit log's jobs: writing an export file, and deleting what retention says
// has expired. Each call is bounded (an export heartbeats its progress; a retention call
// drops a few partitions at most) and can run again after a crash without harm.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { writeExportFile } from '../src/audit/export-file.js';
import type { SigningKeys } from '../src/completeness/keys.js';
import { manifestOf, manifestText } from '../src/completeness/manifest.js';
import { signNote } from '../src/completeness/note.js';
import { serviceActor, type ServiceEvents } from '../src/audit/self-audit.js';
import { log } from '../src/log.js';
import { gdprRecipients, pseudonymiser, soc2Report } from '../src/audit/compliance.js';
import type { AuditEvent } from '../src/model.js';
import type { AuditLog } from '../src/store/audit-log.js';
import type { DestinationStore } from '../src/store/destinations.js';
import type { ExportDoc } from '../src/store/mongo.js';
import { exportChunkBytes, type ExportStore } from '../src/store/exports.js';
import type { RetentionStore } from '../src/store/retention.js';

export interface AuditActivityDependencies {
  auditLog: AuditLog;
  /** Events this recent may still be owed to a destination (its retry window): retention never takes them. */
  deliveryWindowMs: number;
  destinations: DestinationStore;
  exports: ExportStore;
  /** Signs each export's manifest. */
  signingKeys: SigningKeys;
  retention: RetentionStore;
  serviceEvents: ServiceEvents;
}

/** Partitions one retention call may drop or trim: the call stays short on any store. */
const partitionsPerRetentionCall = 4;

export interface ExpireResult {
  deleted: number;
  done: boolean;
  held: boolean;
}

export function createAuditActivities({ auditLog, deliveryWindowMs, destinations, exports, retention, serviceEvents, signingKeys }: AuditActivityDependencies) {
  /** What a compliance preset puts before the events, and does to them. */
  async function presetOf(job: ExportDoc, upTo: number): Promise<{ report?: object; transform?: (event: AuditEvent) => AuditEvent }> {
    if (job.preset === 'soc2') {
      return { report: await soc2Report(auditLog, job.tenantId, await destinations.listWithDelivery(job.tenantId), job.filter.occurredAfter!, job.filter.occurredBefore!) };
    }
    if (job.preset === 'gdpr-access') {
      let first: Date | undefined;
      let last: Date | undefined;
      let events = 0;
      for await (const event of auditLog.stream(job.tenantId, job.filter, { to: upTo })) {
        first ??= event.receivedAt;
        last = event.receivedAt;
        events++;
      }
      const recipients = await gdprRecipients(auditLog, job.tenantId, await destinations.list(job.tenantId), first, last);
      return {
        report: {
          preset: 'gdpr-access',
          article: 'GDPR Art. 15 — the data subject’s events, their recipients; other people’s identifiers pseudonymised',
          subjectId: job.filter.subjectId,
          generatedAt: new Date().toISOString(),
          events,
          recipients,
        },
        transform: pseudonymiser(job.filter.subjectId!),
      };
    }
    return {};
  }

  const exportEvent = (tenantId: string, exportId: string, action: string, metadata: Record<string, unknown>, outcome: 'success' | 'failure') =>
    serviceEvents.record(tenantId, {
      id: `auditstream-${action}-${exportId}`,
      action,
      actor: serviceActor,
      resource: { type: 'audit_export', id: exportId },
      outcome,
      metadata,
    });

  return {
    /** Writes the job's file from scratch (an earlier attempt's part is dropped) and records the result. */
    async writeExport(input: { exportId: string }): Promise<{ events: number; bytes: number }> {
      const job = await exports.byId(input.exportId);
      if (!job) throw ApplicationFailure.nonRetryable(`export ${input.exportId} does not exist`);
      const context = Context.current();
      await exports.resetFile(job._id);
      await exports.update(job._id, { state: 'running' });
      // The export holds exactly what was settled when it started: later events do not change it.
      const upTo = (await auditLog.shownThrough(job.tenantId)).seq;
      const { report, transform } = await presetOf(job, upTo);
      const source = auditLog.batches(job.tenantId, job.filter, { to: upTo });
      const file = await writeExportFile(
        transform ? mapBatches(source, transform) : source,
        { format: job.format, gzip: job.gzip, chunkBytes: exportChunkBytes, preset: job.preset, report },
        (n, chunk) => exports.writeChunk(job._id, n, chunk),
        (events) => context.heartbeat({ events }),
      );
      const finishedAt = new Date();
      const written = { ...job, count: file.events, size: file.bytes, sha256: file.sha256 };
      signingKeys.reload(); // a rotation signs from the next manifest on, in every worker
      const manifest = signNote(manifestText(manifestOf(written, finishedAt)), signingKeys.current());
      await exports.update(job._id, { state: 'ready', count: file.events, size: file.bytes, sha256: file.sha256, chunks: file.chunks, finishedAt, manifest });
      await exportEvent(job.tenantId, job._id, 'audit.export.ready', { events: file.events, bytes: file.bytes, sha256: file.sha256 }, 'success');
      log.info('export ready', { exportId: job._id, tenantId: job.tenantId, events: file.events, bytes: file.bytes });
      return { events: file.events, bytes: file.bytes };
    },

    async failExport(input: { exportId: string; reason: string }): Promise<void> {
      const job = await exports.byId(input.exportId);
      await exports.resetFile(input.exportId);
      await exports.update(input.exportId, { state: 'failed', failure: input.reason, finishedAt: new Date() });
      if (job) await exportEvent(job.tenantId, job._id, 'audit.export.failed', { reason: input.reason }, 'failure');
    },

    async retentionTenants(): Promise<string[]> {
      return retention.tenants();
    },

    /** Deletes a few partitions' worth of the tenant's expired events; `done` once nothing expired is left. */
    async expireTenant(input: { tenantId: string; now: number; deletedBefore: number }): Promise<ExpireResult> {
      const settings = await retention.settings(input.tenantId);
      // The audit log is also what destinations read: a day's retention still keeps what one may be owed.
      const cutoff = new Date(input.now - Math.max(settings.retentionDays * 86_400_000, deliveryWindowMs));
      // Every run is in the tenant's audit log, also one a legal hold stopped or that found nothing to delete.
      const applied = async (deletedEvents: number, held: boolean) => {
        await retention.recordRun({ _id: input.tenantId, at: new Date(input.now), cutoff, deleted: deletedEvents, held });
        await serviceEvents.record(input.tenantId, {
          id: `auditstream-retention-${input.tenantId}-${input.now}`,
          action: 'audit.retention.applied',
          actor: serviceActor,
          resource: { type: 'audit_retention', id: input.tenantId },
          outcome: 'success',
          metadata: { deletedEvents, cutoff: cutoff.toISOString(), days: settings.retentionDays, legalHold: held },
        });
      };
      if (settings.legalHold) {
        await applied(0, true);
        return { deleted: 0, done: true, held: true };
      }
      const { deleted, done } = await auditLog.expire(input.tenantId, cutoff, partitionsPerRetentionCall);
      if (done) await applied(input.deletedBefore + deleted, false);
      return { deleted, done, held: false };
    },

    /** Deletes the files of exports past their expiry. */
    async removeExpiredExports(): Promise<number> {
      const expired = await exports.expired(new Date());
      for (const job of expired) await exports.removeFile(job._id);
      return expired.length;
    },
  };
}

async function* mapBatches(batches: AsyncIterable<AuditEvent[]>, transform: (event: AuditEvent) => AuditEvent): AsyncGenerator<AuditEvent[]> {
  for await (const batch of batches) yield batch.map(transform);
}

export type AuditActivities = ReturnType<typeof createAuditActivities>;
