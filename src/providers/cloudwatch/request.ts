// PutLogEvents batches: sorted by time (CloudWatch requires it) and cut where a batch would
// span more than 24 hours. Each keeps the position of its events in the original request.
import type { InputLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import type { EncodedEvent } from '../provider.js';

export const maxSpanMs = 24 * 3600_000;

export interface LogBatch {
  logEvents: InputLogEvent[];
  /** `positions[i]` is the index in the original request of `logEvents[i]`. */
  positions: number[];
}

export function buildLogBatches(events: EncodedEvent[]): LogBatch[] {
  const sorted = events
    .map((item, position) => ({ position, timestamp: item.event.occurredAt.getTime(), message: item.bytes.toString('utf8') }))
    .sort((a, b) => a.timestamp - b.timestamp || a.position - b.position);
  const batches: LogBatch[] = [];
  let first = 0;
  for (const entry of sorted) {
    let batch = batches[batches.length - 1];
    if (!batch || entry.timestamp - first >= maxSpanMs) {
      batch = { logEvents: [], positions: [] };
      batches.push(batch);
      first = entry.timestamp;
    }
    batch.logEvents.push({ timestamp: entry.timestamp, message: entry.message });
    batch.positions.push(entry.position);
  }
  return batches;
}
