// One export job: write its file (an activity that heartbeats and starts over if retried),
// or, when that cannot be done, mark the job failed with the reason. Never a partial file.
import { ApplicationFailure, ActivityFailure, proxyActivities } from '@temporalio/workflow';
import type { AuditActivities } from '../activities/audit.js';

const { writeExport, failExport } = proxyActivities<AuditActivities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '5s', maximumAttempts: 3 },
});

export interface ExportWorkflowInput {
  exportId: string;
}

export async function exportWorkflow({ exportId }: ExportWorkflowInput): Promise<{ events: number; bytes: number } | { failed: string }> {
  try {
    return await writeExport({ exportId });
  } catch (error) {
    const cause = error instanceof ActivityFailure ? error.cause : error;
    const reason = cause instanceof ApplicationFailure || cause instanceof Error ? cause.message : String(cause);
    await failExport({ exportId, reason });
    return { failed: reason };
  }
}
