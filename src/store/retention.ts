// A tenant's retention: its settings (the API writes them) and the last run of the retention
// job (the job writes it). Two documents, one writer each.
import type { Collections, RetentionRunDoc } from './mongo.js';

export const retentionBounds = { defaultDays: 365, minDays: 1, maxDays: 3650 } as const;

export interface RetentionSettings {
  retentionDays: number;
  legalHold: boolean;
  /** While on, retention keeps at least six years. */
  hipaa: boolean;
}

export class RetentionStore {
  constructor(private readonly collections: Collections) {}

  async settings(tenantId: string): Promise<RetentionSettings> {
    const doc = await this.collections.tenantSettings.findOne({ _id: tenantId });
    return { retentionDays: doc?.retentionDays ?? retentionBounds.defaultDays, legalHold: doc?.legalHold ?? false, hipaa: doc?.hipaa ?? false };
  }

  async update(tenantId: string, change: Partial<RetentionSettings>): Promise<RetentionSettings> {
    const current = await this.settings(tenantId);
    const next = { ...current, ...change };
    await this.collections.tenantSettings.updateOne({ _id: tenantId }, { $set: { ...next, updatedAt: new Date() } }, { upsert: true });
    return next;
  }

  lastRun(tenantId: string): Promise<RetentionRunDoc | null> {
    return this.collections.retentionRuns.findOne({ _id: tenantId });
  }

  async recordRun(run: RetentionRunDoc): Promise<void> {
    await this.collections.retentionRuns.replaceOne({ _id: run._id }, run, { upsert: true });
  }

  /** Every tenant that has published (the per-tenant sequence documents). */
  async tenants(): Promise<string[]> {
    return (await this.collections.tenants.find({}, { projection: { _id: 1 } }).toArray()).map((doc) => doc._id);
  }
}
