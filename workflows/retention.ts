// The retention job, run by a Temporal Schedule: for each tenant, delete what its retention
// says has expired (unless a legal hold stops it), a few partitions per activity so each step
// stays short, then the files of expired exports. Tenants are taken in pages, and a run that
// has done many continues as new, so its history stays small however many tenants there are.
import { continueAsNew, proxyActivities } from '@temporalio/workflow';
import type { AuditActivities } from '../activities/audit.js';

const { retentionTenants, expireTenant, removeExpiredExports } = proxyActivities<AuditActivities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '5s', maximumInterval: '1m', maximumAttempts: 10 },
});

/** Tenants one run handles before it continues as new. */
const tenantsPerRun = 200;

export interface RetentionWorkflowInput {
  /** The run's time: every tenant's cutoff is computed from it. */
  now?: number;
  /** Tenants already done by earlier runs of this job (sorted ids: resume after this one). */
  after?: string;
  deleted?: number;
}

export async function retentionWorkflow(input: RetentionWorkflowInput = {}): Promise<{ deleted: number }> {
  const now = input.now ?? Date.now();
  let deleted = input.deleted ?? 0;
  const tenants = (await retentionTenants()).sort().filter((tenantId) => input.after === undefined || tenantId > input.after);
  for (const tenantId of tenants.slice(0, tenantsPerRun)) {
    let deletedHere = 0;
    for (;;) {
      const result = await expireTenant({ tenantId, now, deletedBefore: deletedHere });
      deletedHere += result.deleted;
      if (result.done) break;
    }
    deleted += deletedHere;
  }
  if (tenants.length > tenantsPerRun) {
    await continueAsNew<typeof retentionWorkflow>({ now, after: tenants[tenantsPerRun - 1], deleted });
  }
  await removeExpiredExports();
  return { deleted };
}
