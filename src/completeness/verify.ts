// The verifier: what a customer (or their auditor) runs on what their SIEM stored, to learn
// whether it holds everything the destination was sent, unaltered. It trusts only signed
// checkpoints (./checkpoint.ts) under the keys it is given, recomputes each checkpoint's chain
// from the stored records, and names what does not add up. `npm run verify` is its command
// line (src/cli/verify.ts); `verifyRecords` and `readStoredRecords` are the library.
import { checkpointHash, chainNext, isCheckpointNote, parseCheckpointText, recordDigest, type CheckpointBody } from './checkpoint.js';
import { openNote, type NoteVerifier } from './note.js';
import { addRange, zeroHash, type SequenceRange } from './stream.js';

/** What a destination's stored records prove, from the best outcome to the worst. */
export type Verdict = 'complete' | 'dropped-reported' | 'incomplete' | 'invalid';

/** The command line's exit status for each verdict. */
export const exitStatus: Record<Verdict, number> = { complete: 0, 'dropped-reported': 1, incomplete: 2, invalid: 3 };

export interface DestinationReport {
  tenantId?: string;
  destinationId: string;
  verdict: Verdict;
  /** Checkpoints whose signature verified, by number: the first and the last. */
  checkpoints: { verified: number; first?: number; last?: number };
  /** Sequences the verified checkpoints cover, and of those the events found and checked. */
  covered?: SequenceRange;
  eventsChecked: number;
  /** Sent and covered by a checkpoint, but not in the records: lost. */
  gaps: SequenceRange[];
  /** Reported by the checkpoints as dropped (the retry window ended) or refused by the destination. */
  dropped: SequenceRange[];
  rejected: SequenceRange[];
  /** Checkpoint numbers missing between verified ones (the events they covered cannot be checked). */
  missingCheckpoints: SequenceRange[];
  /** Events found more than once, the same each time (a delivery sent again): harmless. */
  duplicates: number;
  /** Records that differ from what was sent, or checkpoints that contradict each other. */
  altered: string[];
  /** Checkpoints that are not trusted: a signature that does not verify, an unknown key, a broken chain. */
  invalidCheckpoints: string[];
  /** Events after the last checkpoint (or before the first): not yet provable. */
  uncovered: number;
}

export interface VerifyReport {
  verdict: Verdict;
  destinations: DestinationReport[];
  /** Events replayed by a backfill: marked, outside any sequence (a replay names its backfill, not its destination). */
  replays: number;
  /** Records that are neither an event with a sequence, nor a replay, nor a checkpoint. */
  otherRecords: number;
}

interface StreamedEvent {
  destinationId: string;
  sequence: number;
  digest: Buffer;
}

interface FoundCheckpoint {
  note: string;
}

/** Where each format keeps the stream fields: auditstream's JSON, an ECS document, an OCSF event. */
function streamOf(record: Record<string, unknown>): { destinationId: string; sequence: number } | undefined {
  const holders = [record, record.auditstream, record.unmapped] as (Record<string, unknown> | undefined)[];
  for (const holder of holders) {
    const stream = holder?.stream as Record<string, unknown> | undefined;
    if (!stream || typeof stream !== 'object') continue;
    const destinationId = stream.destinationId ?? stream.destination_id;
    if (typeof destinationId === 'string' && Number.isSafeInteger(stream.sequence)) return { destinationId, sequence: stream.sequence as number };
  }
  return undefined;
}

function isReplay(record: Record<string, unknown>): boolean {
  const wire = (record.auditstream ?? record) as Record<string, unknown>;
  return wire.replay !== undefined || (record.unmapped as Record<string, unknown> | undefined)?.replay !== undefined;
}

/** The signed note a checkpoint record carries, wherever its format put it. */
function noteIn(value: unknown, depth = 0): string | undefined {
  if (isCheckpointNote(value)) return value;
  if (depth > 6 || value === null || typeof value !== 'object') return undefined;
  for (const inner of Object.values(value)) {
    const found = noteIn(inner, depth + 1);
    if (found) return found;
  }
  return undefined;
}

const rangeLength = (ranges: SequenceRange[]) => ranges.reduce((sum, { lo, hi }) => sum + hi - lo + 1, 0);
const within = (ranges: SequenceRange[], n: number) => ranges.some(({ lo, hi }) => n >= lo && n <= hi);
const rangeText = ({ lo, hi }: SequenceRange) => (lo === hi ? `${lo}` : `${lo}–${hi}`);

/** Verifies the records a receiver stored against the checkpoints among them, under `verifiers`. */
export function verifyRecords(records: unknown[], verifiers: NoteVerifier[], options: { destinationId?: string } = {}): VerifyReport {
  const events = new Map<string, StreamedEvent[]>();
  const notes: FoundCheckpoint[] = [];
  let replays = 0;
  let otherRecords = 0;
  for (const record of records) {
    if (record === null || typeof record !== 'object') {
      otherRecords++;
      continue;
    }
    const fields = record as Record<string, unknown>;
    const note = noteIn(fields);
    const stream = note ? undefined : streamOf(fields);
    if (note) notes.push({ note });
    else if (stream) {
      const list = events.get(stream.destinationId) ?? [];
      list.push({ ...stream, digest: recordDigest(fields) });
      events.set(stream.destinationId, list);
    } else if (isReplay(fields)) replays++;
    else otherRecords++;
  }

  // Checkpoints are trusted once their signature verifies; each then says whose it is.
  const checkpoints = new Map<string, { body: CheckpointBody; text: string }[]>();
  const untrusted: string[] = [];
  for (const { note } of notes) {
    const opened = openNote(note, verifiers);
    const label = note.split('\n').slice(2, 4).join(', ');
    if ('error' in opened) {
      untrusted.push(`checkpoint (${label}): ${opened.error}`);
      continue;
    }
    try {
      const body = parseCheckpointText(opened.text);
      const list = checkpoints.get(body.destinationId) ?? [];
      list.push({ body, text: opened.text });
      checkpoints.set(body.destinationId, list);
    } catch (error) {
      untrusted.push(`checkpoint (${label}): ${(error as Error).message}`);
    }
  }

  const ids = new Set([...events.keys(), ...checkpoints.keys()]);
  const destinations = [...ids]
    .filter((id) => options.destinationId === undefined || id === options.destinationId)
    .sort()
    .map((id) => verifyDestination(id, events.get(id) ?? [], checkpoints.get(id) ?? []));
  // A checkpoint no key vouches for cannot be placed: every destination's report names it.
  for (const report of destinations) {
    report.invalidCheckpoints.unshift(...untrusted);
    report.verdict = verdictOf(report);
  }
  if (destinations.length === 0 && untrusted.length > 0) {
    destinations.push({ ...emptyReport(options.destinationId ?? '(unknown)'), invalidCheckpoints: untrusted, verdict: 'invalid' });
  }
  const order: Verdict[] = ['complete', 'dropped-reported', 'incomplete', 'invalid'];
  const verdict = destinations.reduce<Verdict>((worst, report) => (order.indexOf(report.verdict) > order.indexOf(worst) ? report.verdict : worst), destinations.length === 0 ? 'incomplete' : 'complete');
  return { verdict, destinations, replays, otherRecords };
}

function emptyReport(destinationId: string): DestinationReport {
  return {
    destinationId,
    verdict: 'complete',
    checkpoints: { verified: 0 },
    eventsChecked: 0,
    gaps: [],
    dropped: [],
    rejected: [],
    missingCheckpoints: [],
    duplicates: 0,
    altered: [],
    invalidCheckpoints: [],
    uncovered: 0,
  };
}

function verdictOf(report: DestinationReport): Verdict {
  if (report.altered.length > 0 || report.invalidCheckpoints.length > 0) return 'invalid';
  if (report.gaps.length > 0 || report.missingCheckpoints.length > 0 || report.checkpoints.verified === 0) return 'incomplete';
  if (report.dropped.length > 0 || report.rejected.length > 0) return 'dropped-reported';
  return 'complete';
}

function verifyDestination(destinationId: string, events: StreamedEvent[], found: { body: CheckpointBody; text: string }[]): DestinationReport {
  const report = emptyReport(destinationId);

  // One record per sequence: copies must be the same record (a resend), else one was altered.
  const bySequence = new Map<number, Buffer>();
  for (const event of events) {
    const known = bySequence.get(event.sequence);
    if (!known) bySequence.set(event.sequence, event.digest);
    else if (known.equals(event.digest)) report.duplicates++;
    else report.altered.push(`sequence ${event.sequence}: two different records carry it`);
  }

  // The checkpoints, by number; two different ones with one number contradict each other.
  const byNumber = new Map<number, { body: CheckpointBody; text: string }>();
  for (const checkpoint of found) {
    const known = byNumber.get(checkpoint.body.n);
    if (known && known.text !== checkpoint.text) report.invalidCheckpoints.push(`checkpoint ${checkpoint.body.n}: two different signed checkpoints carry this number`);
    else byNumber.set(checkpoint.body.n, checkpoint);
  }
  const ordered = [...byNumber.values()].sort((a, b) => a.body.n - b.body.n);
  report.tenantId = ordered[0]?.body.tenantId;
  report.checkpoints = { verified: ordered.length, first: ordered[0]?.body.n, last: ordered[ordered.length - 1]?.body.n };

  let previous: { body: CheckpointBody; text: string } | undefined;
  for (const checkpoint of ordered) {
    const { body } = checkpoint;
    if (body.tenantId !== report.tenantId) report.invalidCheckpoints.push(`checkpoint ${body.n}: of tenant ${body.tenantId}, not ${report.tenantId}`);
    if (previous && body.n === previous.body.n + 1) {
      if (body.previous !== checkpointHash(previous.text)) report.invalidCheckpoints.push(`checkpoint ${body.n}: does not name checkpoint ${previous.body.n} as its previous one (out of chain)`);
      if (body.first !== previous.body.last + 1) report.invalidCheckpoints.push(`checkpoint ${body.n}: starts at sequence ${body.first}, not after checkpoint ${previous.body.n}'s last (${previous.body.last})`);
    } else if (previous) {
      addRange(report.missingCheckpoints, previous.body.n + 1, body.n - 1);
    } else if (body.n === 1 && body.previous !== zeroHash) {
      report.invalidCheckpoints.push('checkpoint 1: names a previous checkpoint');
    }
    previous = checkpoint;
    checkCovered(report, checkpoint.body, bySequence);
  }
  if (ordered.length > 0) report.covered = { lo: ordered[0].body.first, hi: ordered[ordered.length - 1].body.last };
  for (const sequence of bySequence.keys()) {
    if (!report.covered || sequence < report.covered.lo || sequence > report.covered.hi) report.uncovered++;
  }
  report.verdict = verdictOf(report);
  return report;
}

/** One checkpoint against the records of its range: every sent sequence there, chained to its hash. */
function checkCovered(report: DestinationReport, body: CheckpointBody, bySequence: Map<number, Buffer>): void {
  const skipped = [...body.dropped, ...body.rejected];
  for (const range of body.dropped) addRange(report.dropped, range.lo, range.hi);
  for (const range of body.rejected) addRange(report.rejected, range.lo, range.hi);
  const span = body.last - body.first + 1;
  if (body.count !== span - rangeLength(skipped)) {
    report.invalidCheckpoints.push(`checkpoint ${body.n}: counts ${body.count} events, but its range less its dropped and refused ones holds ${span - rangeLength(skipped)}`);
    return;
  }
  let chain: Buffer = Buffer.from(zeroHash, 'base64');
  const gaps: SequenceRange[] = [];
  for (let sequence = body.first; sequence <= body.last; sequence++) {
    const digest = bySequence.get(sequence);
    if (within(skipped, sequence)) {
      if (digest) report.altered.push(`sequence ${sequence}: stored, but checkpoint ${body.n} reports it dropped or refused`);
      continue;
    }
    if (!digest) {
      addRange(gaps, sequence, sequence);
      continue;
    }
    chain = chainNext(chain, digest);
    report.eventsChecked++;
  }
  for (const gap of gaps) addRange(report.gaps, gap.lo, gap.hi);
  if (gaps.length === 0 && chain.toString('base64') !== body.events) {
    report.altered.push(`sequence ${rangeText({ lo: body.first, hi: body.last })}: the records do not hash to checkpoint ${body.n}'s (an event was altered, or events reordered)`);
  }
}

/**
 * The records in what a receiver stored, whichever of these it is: NDJSON of webhook deliveries
 * (one `{"deliveryId","events":[…]}` body a line) or of records; an Elasticsearch `_search`
 * answer (`hits.hits[]._source`); Splunk's exported JSON (`{"result":{"_raw":…}}` lines, or a
 * `results` array); CloudWatch Logs' `GetLogEvents` answer (`events[].message`).
 */
export function readStoredRecords(text: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  let whole: unknown;
  try {
    whole = JSON.parse(trimmed);
  } catch {
    whole = undefined;
  }
  const values = whole !== undefined ? [whole] : trimmed.split('\n').filter((line) => line.trim() !== '').map((line, index) => parseLine(line, index + 1));
  return values.flatMap(recordsIn);
}

function parseLine(line: string, number: number): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`line ${number} is not JSON: ${JSON.stringify(line.slice(0, 80))}`);
  }
}

function recordsIn(value: unknown): unknown[] {
  if (Array.isArray(value)) return value.flatMap(recordsIn);
  if (value === null || typeof value !== 'object') return [value];
  const object = value as Record<string, unknown>;
  const hits = (object.hits as Record<string, unknown> | undefined)?.hits;
  if (Array.isArray(hits)) return hits.map((hit) => (hit as Record<string, unknown>)._source);
  if (Array.isArray(object.results)) return object.results.flatMap(recordsIn);
  if (object.result && typeof object.result === 'object') return recordsIn(object.result);
  if (typeof object._raw === 'string') return [JSON.parse(object._raw)];
  if (Array.isArray(object.events) && object.events.every((event) => typeof (event as Record<string, unknown>)?.message === 'string')) {
    return object.events.map((event) => JSON.parse((event as { message: string }).message));
  }
  if (typeof object.deliveryId === 'string' && Array.isArray(object.events)) return object.events;
  return [value];
}
