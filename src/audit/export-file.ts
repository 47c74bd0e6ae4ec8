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
export type ExportPreset = 'soc2' | 'hipaa' | 'gdpr-access';

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

/** HIPAA's audit controls ask who, what, when, where and with what outcome (§164.312(b)). */
export const hipaaColumns = [
  'when',
  'who_type',
  'who_id',
  'who_name',
  'what_action',
  'what_resource_type',
  'what_resource_id',
  'what_resource_name',
  'where_ip',
  'where_user_agent',
  'outcome',
  'event_id',
  'request_id',
] as const;

function hipaaRow(event: AuditEvent): string[] {
  return [
    event.occurredAt.toISOString(),
    event.actor?.type ?? '',
    event.actor?.id ?? '',
    event.actor?.name ?? '',
    event.action,
    event.resource?.type ?? '',
    event.resource?.id ?? '',
    event.resource?.name ?? '',
    event.actor?.ip ?? '',
    event.actor?.userAgent ?? '',
    event.outcome,
    event.id,
    event.requestId ?? '',
  ];
}

/**
 * A cell a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a CR) is
 * prefixed with a quote; a cell holding a CR or LF anywhere is quoted, so no reader starts a
 * row in the middle of it (by default only the record delimiter, CRLF, would be).
 */
const csvOptions = { escape_formulas: true, record_delimiter: '\r\n', quoted_match: /[\r\n]/ } as const;

/**
 * Batches of events to lines. NDJSON: one event per line; with a report (the soc2 and
 * gdpr-access presets) the first line is `{"record":"report",…}` and each event line has
 * `"record":"event"`. CSV: a header, then one row per event (the hipaa preset's columns for
 * hipaa). Events come a batch at a time (a chunk of the log's): the stream's own work is per
 * batch, not per event.
 */
export function encodeLines(format: ExportFormat, options: { preset?: ExportPreset; report?: object } = {}) {
  const csv = options.preset === 'hipaa' ? { columns: hipaaColumns, row: hipaaRow } : { columns: csvColumns, row: csvRow };
  const header = format === 'csv' ? stringify([[...csv.columns]], csvOptions) : options.report ? `${JSON.stringify({ record: 'report', ...options.report })}\n` : '';
  const line =
    format === 'csv'
      ? (event: AuditEvent) => stringify([csv.row(event)], csvOptions)
      : (event: AuditEvent) => `${JSON.stringify(options.report ? { record: 'event', ...toWireEvent(event) } : toWireEvent(event))}\n`;
  let first = true;
  return new Transform({
    writableObjectMode: true,
    transform(events: AuditEvent[], _encoding, done) {
      const text = (first ? header : '') + events.map(line).join('');
      first = false;
      done(null, text);
    },
    flush(done) {
      // An export of no events is still a valid file: a CSV has its header, a report its line.
      done(null, first && header ? header : undefined);
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
 * Encodes batches of events into the export file, handing each full chunk (and the last) to
 * `write` in order; `progress` is told the count as it grows.
 */
export async function writeExportFile(
  batches: AsyncIterable<AuditEvent[]>,
  options: { format: ExportFormat; gzip: boolean; chunkBytes: number; preset?: ExportPreset; report?: object },
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
    for await (const batch of batches) {
      if (batch.length === 0) continue;
      count += batch.length;
      progress(count);
      yield batch;
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
  const lines = encodeLines(options.format, options);
  if (options.gzip) await pipeline(source, lines, createGzip(), sink);
  else await pipeline(source, lines, sink);
  return { events: count, bytes, sha256: hash.digest('hex'), chunks };
}
