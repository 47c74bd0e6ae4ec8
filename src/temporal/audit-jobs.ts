// The audit log's jobs as the API sees them in Temporal: the retention Schedule (created when
// missing, its next run shown with each tenant's retention) and one workflow per export.
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { log } from '../log.js';
import type { exportWorkflow } from '../../workflows/export.js';
import type { retentionWorkflow } from '../../workflows/retention.js';

export const retentionScheduleId = 'auditstream-retention';

export class AuditJobs {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly retentionIntervalMs: number,
  ) {}

  /** The Schedule that runs retention every interval; created once, kept across restarts. */
  async ensureRetentionSchedule(): Promise<void> {
    try {
      await this.client.schedule.create({
        scheduleId: retentionScheduleId,
        spec: { intervals: [{ every: this.retentionIntervalMs }] },
        action: { type: 'startWorkflow', workflowType: 'retentionWorkflow' as unknown as typeof retentionWorkflow, taskQueue: this.taskQueue, args: [{}] },
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1h' },
        memo: { about: 'Deletes expired audit events of every tenant, per its retention (auditstream)' },
      });
      log.info('retention schedule created', { scheduleId: retentionScheduleId, everyMs: this.retentionIntervalMs });
    } catch (error) {
      if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      const handle = this.client.schedule.getHandle(retentionScheduleId);
      const current = await handle.describe();
      const every = current.spec.intervals?.[0]?.every;
      if (every !== this.retentionIntervalMs) {
        await handle.update((schedule) => ({ ...schedule, spec: { intervals: [{ every: this.retentionIntervalMs }] } }));
      }
    }
  }

  async nextRetentionRun(): Promise<Date | undefined> {
    const described = await this.client.schedule.getHandle(retentionScheduleId).describe();
    return described.info.nextActionTimes[0];
  }

  /** Runs the retention job now (the operators' and the tests' way not to wait for the Schedule). */
  async runRetentionNow(): Promise<void> {
    await this.client.schedule.getHandle(retentionScheduleId).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
  }

  async startExport(exportId: string): Promise<void> {
    await this.client.workflow.start<typeof exportWorkflow>('exportWorkflow', {
      workflowId: `export-${exportId}`,
      taskQueue: this.taskQueue,
      args: [{ exportId }],
      staticSummary: `audit log export ${exportId}`,
    });
  }
}
