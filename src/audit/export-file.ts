// The bytes of an export: NDJSON (one event per line, the same JSON destinations receive) or
// CSV (one column per field, metadata as JSON, formula-looking cells escaped), optionally
// gzip'd, hashed and cut into chunks as they are produced — memory stays bounded whatever
// the number of events.
import { createHash } from 'node:crypto';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { stringify } from 'csv-stringify/sync';
import type { AuditEvent } from '../model.js';
import { toWireEvent } from '../providers/wire-event.js';

export type ExportFormat = 'ndjson' | 'csv';

export const csvColumns = [
  'id',
  'occurred_at',
  'received_at',
  'action',
  'outcome',
  'actor_type',
  'actor_id',
  'actor_name',
  'actor_ip',
  'actor_user_agent',
  'resource_type',
  'resource_id',
  'resource_name',
  'request_id',
  'metadata',
] as const;

function csvRow(event: AuditEvent): string[] {
  return [
    event.id,
    event.occurredAt.toISOString(),
    event.receivedAt.toISOString(),
    event.action,
    event.outcome,
    event.actor?.type ?? '',
    event.actor?.id ?? '',
    event.actor?.name ?? '',
    event.actor?.ip ?? '',
    event.actor?.userAgent ?? '',
    event.resource?.type ?? '',
    event.resource?.id ?? '',
    event.resource?.name ?? '',
    event.requestId ?? '',
    event.metadata ? JSON.stringify(event.metadata) : '',
  ];
}

const csvOptions = { escape_formulas: true, record_delimiter: '\r\n' } as const;

export function encodeLines(format: ExportFormat) {
  let first = true;
  return new Transform({
    writableObjectMode: true,
    transform(event: AuditEvent, _encoding, done) {
      let text = '';
      if (format === 'csv') {
        if (first) text += stringify([[...csvColumns]], csvOptions);
        text += stringify([csvRow(event)], csvOptions);
      } else {
        text = `${JSON.stringify(toWireEvent(event))}\n`;
      }
      first = false;
      done(null, text);
    },
    flush(done) {
      // An export of no events is still a valid file: a CSV has its header.
      done(null, first && format === 'csv' ? stringify([[...csvColumns]], csvOptions) : undefined);
    },
  });
}

export interface WrittenFile {
  events: number;
  bytes: number;
  sha256: string;
  chunks: number;
}

/**
 * Encodes `events` into the export file, handing each full chunk (and the last) to `write`
 * in order; `progress` is told the count every 1,000 events.
 */
export async function writeExportFile(
  events: AsyncIterable<AuditEvent>,
  options: { format: ExportFormat; gzip: boolean; chunkBytes: number },
  write: (n: number, chunk: Buffer) => Promise<void>,
  progress: (events: number) => void = () => {},
): Promise<WrittenFile> {
  const hash = createHash('sha256');
  let count = 0;
  let bytes = 0;
  let chunks = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const emit = async () => {
    const chunk = Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    await write(chunks++, chunk);
  };
  async function* counted() {
    for await (const event of events) {
      count++;
      if (count % 1_000 === 0) progress(count);
      yield event;
    }
  }
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes < options.chunkBytes) return done();
      emit().then(() => done(), done);
    },
    final(done) {
      emit().then(() => done(), done);
    },
  });
  const source = Readable.from(counted());
  if (options.gzip) await pipeline(source, encodeLines(options.format), createGzip(), sink);
  else await pipeline(source, encodeLines(options.format), sink);
  return { events: count, bytes, sha256: hash.digest('hex'), chunks };
}
