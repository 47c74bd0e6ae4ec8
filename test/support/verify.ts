// Running the verifier as a customer would on what a test's receiver stored: the public keys
// from the service's well-known path, the records as the receiver kept them.
import { isCheckpointNote, parseCheckpointText } from '../../src/completeness/checkpoint.js';
import { parseVerifierKeys, type NoteVerifier } from '../../src/completeness/note.js';
import { readStoredRecords, verifyRecords, type DestinationReport } from '../../src/completeness/verify.js';
import type { WebhookReceiver } from './receiver.js';

export const signingKeysUrl = (httpUrl: string) => `${httpUrl}/.well-known/auditstream/signing-keys`;

export async function verifierKeys(httpUrl: string): Promise<NoteVerifier[]> {
  const answer = await fetch(signingKeysUrl(httpUrl));
  if (!answer.ok) throw new Error(`the signing keys answered HTTP ${answer.status}`);
  return parseVerifierKeys(await answer.text());
}

/** What a webhook receiver stored, as NDJSON of the delivery bodies (what `npm run verify` reads). */
export const webhookStored = (receiver: WebhookReceiver) => receiver.accepted.map((delivery) => delivery.body.toString('utf8')).join('\n');

/** The highest sequence a checkpoint among `records` covers for the destination (0 when none does). */
export function coveredThrough(records: unknown[], destinationId: string): number {
  const notes: string[] = [];
  const collect = (value: unknown, depth = 0): void => {
    if (isCheckpointNote(value)) notes.push(value);
    else if (value && typeof value === 'object' && depth < 6) Object.values(value).forEach((inner) => collect(inner, depth + 1));
  };
  records.forEach((record) => collect(record));
  const bodies = notes.map((note) => parseCheckpointText(note.slice(0, note.lastIndexOf('\n\n') + 1)));
  return Math.max(0, ...bodies.filter((body) => body.destinationId === destinationId).map((body) => body.last));
}

/**
 * Waits until a checkpoint covers every sequence the destination's counters account for, then
 * answers the verifier's report on the receiver's records for it.
 */
export async function verifiedOnceCovered(
  receiver: WebhookReceiver,
  destinationId: string,
  keys: NoteVerifier[],
  counters: { delivered: string; dropped: string; rejected: string },
  timeoutMs = 60_000,
): Promise<DestinationReport> {
  const sequences = Number(counters.delivered) + Number(counters.dropped) + Number(counters.rejected);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const records = readStoredRecords(webhookStored(receiver));
    const covered = coveredThrough(records, destinationId);
    if (covered >= sequences) return verifyRecords(records, keys, { destinationId }).destinations[0];
    if (Date.now() > deadline) throw new Error(`no checkpoint covers the ${sequences} sequences of ${destinationId} (covered through ${covered})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
