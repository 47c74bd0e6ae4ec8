// The ingestion handlers: validate, then hand to the group-committing publisher, which
// answers once the events are durable.
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import {
  type PublishEventRequest,
  type PublishEventResponse,
  PublishEventResponseSchema,
  type PublishEventsRequest,
  type PublishEventsResponse,
  PublishEventsResponseSchema,
} from '../gen/auditstream/v1/events_pb.js';
import { NotIngesting } from '../ingest/lease.js';
import { PublishTimeout, type Publisher } from '../ingest/publisher.js';
import { eventsIngested } from '../metrics.js';
import { parseEvent, parseEventBatch } from './validate.js';

/** A failure to store is the caller's cue to retry: nothing of the call was acknowledged. */
function storeUnavailable(error: unknown): never {
  if (error instanceof ConnectError) throw error;
  if (error instanceof NotIngesting) {
    throw new ConnectError(`${error.message}; retry the call with the same event ids (an id is stored once)`, Code.Unavailable);
  }
  if (error instanceof PublishTimeout && error.stored === false) {
    throw new ConnectError('the event store did not answer in time; nothing was accepted, retry the call', Code.Unavailable);
  }
  throw new ConnectError(
    'the event store is unavailable and did not confirm the events; retry the call with the same event ids (an id is stored once)',
    Code.Unavailable,
  );
}

export class EventsApi {
  constructor(private readonly publisher: Publisher) {}

  async publishOne(tenantId: string, request: PublishEventRequest): Promise<PublishEventResponse> {
    const event = parseEvent(request.event, 'event', new Date());
    const [result] = await this.publisher.publish(tenantId, [event]).catch(storeUnavailable);
    if (!result.duplicate) eventsIngested.inc();
    return create(PublishEventResponseSchema, result);
  }

  async publishMany(tenantId: string, request: PublishEventsRequest): Promise<PublishEventsResponse> {
    const events = parseEventBatch(request.events, new Date());
    const results = await this.publisher.publish(tenantId, events).catch(storeUnavailable);
    eventsIngested.inc(results.filter((result) => !result.duplicate).length);
    return create(PublishEventsResponseSchema, { results });
  }
}
