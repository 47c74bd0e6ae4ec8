// The API's side of the destination workflows: start one per destination, tell it about new
// events and changes, ask for its status, and delete it through an Update that answers once
// the final flush is done. A destination whose workflow has gone missing (terminated in the
// UI, lost) gets it started again, and the new run takes its state from MongoDB.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { log } from '../log.js';
import type { DestinationDoc } from '../store/mongo.js';
import type { PendingRange } from '../../workflows/ranges.js';
import {
  type DeleteResult,
  type StartBackfill,
  cancelBackfillUpdate,
  deleteUpdate,
  startBackfillUpdate,
  destinationWorkflowId,
  eventsReadySignal,
  reconfigureUpdate,
  statusQuery,
} from '../../workflows/messages.js';
import type { DestinationSnapshot } from '../../workflows/state.js';
import type { destinationWorkflow } from '../../workflows/destination.js';
import { providerAttribute, statusAttribute, tenantAttribute } from '../../workflows/search-attributes.js';

/** The destination was deleted: there is no workflow to tell, and none to start. */
export class DestinationGoneError extends Error {
  constructor(destinationId: string) {
    super(`destination ${destinationId} is deleted`);
  }
}

/** How long the API waits for a workflow to apply an update before answering UNAVAILABLE. */
const reconfigureTimeoutMs = 15_000;

export class DestinationWorkflows {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly searchAttributes: boolean,
    /** Reads a destination whatever its tenant: what a missing workflow is started again from. */
    private readonly lookup: (destinationId: string) => Promise<DestinationDoc | null>,
  ) {}

  private handle(destinationId: string) {
    return this.client.workflow.getHandle(destinationWorkflowId(destinationId));
  }

  async start(doc: DestinationDoc): Promise<void> {
    await this.client.workflow.start<typeof destinationWorkflow>('destinationWorkflow', {
      workflowId: destinationWorkflowId(doc._id),
      taskQueue: this.taskQueue,
      // Two callers finding the workflow missing at once start it once.
      workflowIdConflictPolicy: 'USE_EXISTING',
      args: [{ destinationId: doc._id, tenantId: doc.tenantId, provider: doc.provider, searchAttributes: this.searchAttributes }],
      staticSummary: `${doc.provider} destination ${doc._id} of tenant ${doc.tenantId}`,
      ...(this.searchAttributes
        ? {
            typedSearchAttributes: [
              { key: tenantAttribute, value: doc.tenantId },
              { key: providerAttribute, value: doc.provider },
              // A workflow started again shows its mirrored status from its first record on.
              { key: statusAttribute, value: 'active' },
            ],
          }
        : {}),
    });
  }

  /** Runs `call`; when the workflow is missing, starts it again from `doc` (or MongoDB) and runs `call` once more. */
  private async withWorkflow<T>(destinationId: string, call: () => Promise<T>, doc?: DestinationDoc): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
    const current = doc ?? (await this.lookup(destinationId));
    if (!current || (doc === undefined && current.deletingAt)) throw new DestinationGoneError(destinationId);
    log.warn('destination workflow is missing; starting it again from MongoDB', { destinationId, tenantId: current.tenantId });
    await this.start(current);
    return call();
  }

  async announce(destinationId: string, ranges: PendingRange[]): Promise<void> {
    await this.withWorkflow(destinationId, () => this.handle(destinationId).signal(eventsReadySignal, { ranges }));
  }

  /** Tells the workflow its destination was updated; answers the state that follows. */
  async reconfigure(doc: DestinationDoc): Promise<DestinationSnapshot> {
    return this.client.withDeadline(Date.now() + reconfigureTimeoutMs, () =>
      this.withWorkflow(doc._id, () => this.handle(doc._id).executeUpdate(reconfigureUpdate, { args: [{ enabled: doc.enabled }] }), doc),
    );
  }

  /** Flushes and ends the workflow (starting it again first if it was lost, so what it owes is settled). */
  async delete(doc: DestinationDoc, flushDeadlineMs: number): Promise<DeleteResult> {
    const update = () => this.handle(doc._id).executeUpdate(deleteUpdate, { args: [{ flushDeadlineMs }] });
    return this.client.withDeadline(Date.now() + flushDeadlineMs + reconfigureTimeoutMs, async () => (await this.deletedResult(doc._id)) ?? this.withWorkflow(doc._id, update, doc));
  }

  /** The result of a deletion that already ended the workflow (its answer was lost on the way): the workflow's own result. */
  private async deletedResult(destinationId: string): Promise<DeleteResult | undefined> {
    const handle = this.handle(destinationId);
    const description = await handle.describe().catch((error) => {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    });
    return description?.status.name === 'COMPLETED' ? ((await handle.result()) as DeleteResult) : undefined;
  }

  /** Hands a backfill to the workflow; answers whether it started (one runs at a time). */
  async startBackfill(doc: DestinationDoc, backfill: StartBackfill): Promise<{ started: boolean; running?: string }> {
    return this.client.withDeadline(Date.now() + reconfigureTimeoutMs, () =>
      this.withWorkflow(doc._id, () => this.handle(doc._id).executeUpdate(startBackfillUpdate, { args: [backfill] }), doc),
    );
  }

  async cancelBackfill(doc: DestinationDoc, id: string): Promise<{ cancelled: boolean }> {
    return this.client.withDeadline(Date.now() + reconfigureTimeoutMs, () =>
      this.withWorkflow(doc._id, () => this.handle(doc._id).executeUpdate(cancelBackfillUpdate, { args: [{ id }] }), doc),
    );
  }

  async status(destinationId: string): Promise<DestinationSnapshot> {
    return this.handle(destinationId).query(statusQuery);
  }
}
