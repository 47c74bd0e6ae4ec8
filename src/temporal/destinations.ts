// The API's side of the destination workflows: start one per destination, tell it about
// new events and changes, ask for its status, and delete it through an Update that
// answers once the final flush is done.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { DestinationDoc } from '../store/mongo.js';
import type { PendingRange } from '../../workflows/ranges.js';
import {
  type DeleteResult,
  type DeliveryPolicy,
  type DestinationSnapshot,
  deleteUpdate,
  destinationWorkflowId,
  eventsReadySignal,
  reconfigureSignal,
  statusQuery,
} from '../../workflows/messages.js';
import type { destinationWorkflow } from '../../workflows/destination.js';
import { providerAttribute, statusAttribute, tenantAttribute } from '../../workflows/search-attributes.js';

export class DestinationWorkflows {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly policy: DeliveryPolicy,
    private readonly searchAttributes: boolean,
  ) {}

  private handle(destinationId: string) {
    return this.client.workflow.getHandle(destinationWorkflowId(destinationId));
  }

  async start(doc: DestinationDoc): Promise<void> {
    await this.client.workflow.start<typeof destinationWorkflow>('destinationWorkflow', {
      workflowId: destinationWorkflowId(doc._id),
      taskQueue: this.taskQueue,
      args: [
        {
          destinationId: doc._id,
          tenantId: doc.tenantId,
          provider: doc.provider,
          enabled: doc.enabled,
          policy: this.policy,
          searchAttributes: this.searchAttributes,
        },
      ],
      staticSummary: `${doc.provider} destination ${doc._id} of tenant ${doc.tenantId}`,
      ...(this.searchAttributes
        ? {
            typedSearchAttributes: [
              { key: tenantAttribute, value: doc.tenantId },
              { key: providerAttribute, value: doc.provider },
              { key: statusAttribute, value: doc.status },
            ],
          }
        : {}),
    });
  }

  async announce(destinationId: string, ranges: PendingRange[]): Promise<void> {
    await this.handle(destinationId).signal(eventsReadySignal, { ranges });
  }

  async reconfigure(destinationId: string, enabled: boolean): Promise<void> {
    await this.handle(destinationId).signal(reconfigureSignal, { enabled });
  }

  /** Flushes and ends the workflow; a workflow already gone has nothing to flush. */
  async delete(destinationId: string, flushDeadlineMs: number): Promise<DeleteResult> {
    try {
      return await this.handle(destinationId).executeUpdate(deleteUpdate, { args: [{ flushDeadlineMs }] });
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return { flushed: 0, dropped: 0 };
      throw error;
    }
  }

  async status(destinationId: string): Promise<DestinationSnapshot> {
    return this.handle(destinationId).query(statusQuery);
  }
}
