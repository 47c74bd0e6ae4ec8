// Signed notes, checkpoints and the verifier, with the negative vectors an auditor would try:
// a forged signature, an altered event, a removed event, a removed checkpoint, a reordered
// chain, a checkpoint of another destination or signed by another key.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import canonicalize from 'canonicalize';
import { canonicalJson, chainNext, checkpointBodyOf, checkpointEvent, checkpointHash, checkpointText, parseCheckpointText, canonicalDigest } from '../../src/completeness/checkpoint.js';
import { SigningKeys } from '../../src/completeness/keys.js';
import { openNote, parseVerifierKey, parseVerifierKeys, signNote, signerOf, verifierKeyOf, type NoteSigner } from '../../src/completeness/note.js';
import { addRange, initialStream, makeCheckpoint, streamDropped, checkpointSent, type StreamState } from '../../src/completeness/stream.js';
import { readStoredRecords, verifyRecords } from '../../src/completeness/verify.js';
import type { AuditEvent } from '../../src/model.js';
import { encodeWebhookEvent } from '../../src/providers/webhook/encode.js';
import { encodeElasticEvent } from '../../src/providers/elastic/encode.js';
import { encodeSplunkEvent } from '../../src/providers/splunk/encode.js';
import { encodeDatadogEvent } from '../../src/providers/datadog/encode.js';
import { encodeCloudWatchEvent } from '../../src/providers/cloudwatch/encode.js';

describe('signed notes', () => {
  // The example of Go's golang.org/x/mod/sumdb/note (and the C2SP spec's implementations).
  const text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
  const seed = Buffer.from('AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz', 'base64').subarray(1);
  const signer = signerOf('PeterNeumann', seed);

  it('signs and names keys exactly as Go’s sumdb/note does', () => {
    expect(signer.keyId.toString(16)).toBe('c74f20a3');
    expect(verifierKeyOf(signer)).toBe('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW');
    expect(signNote(text, signer)).toBe(`${text}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`);
  });

  it('opens a note only under a known key whose signature verifies', () => {
    const verifier = parseVerifierKey(verifierKeyOf(signer));
    const note = signNote(text, signer);
    expect(openNote(note, [verifier])).toMatchObject({ text });
    expect(openNote(note.replace('cryptography', 'cryptographi'), [verifier])).toEqual({ error: expect.stringMatching(/does not verify/) });
    expect(openNote(note, [parseVerifierKey(verifierKeyOf(signerOf('PeterNeumann', randomBytes(32))))])).toEqual({ error: expect.stringMatching(/no known key/) });
    expect(() => parseVerifierKey('PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')).toThrow(/does not match/);
  });

  it('reads a keys document as the well-known JSON or as one key a line, the same keys either way', () => {
    const keys = [signerOf('auditstream', randomBytes(32)), signerOf('auditstream', randomBytes(32))].map(verifierKeyOf);
    const ids = (text: string) => parseVerifierKeys(text).map((key) => key.keyId);
    const expected = keys.map((key) => parseVerifierKey(key).keyId);
    expect(ids(JSON.stringify({ keys: keys.map((verifierKey, index) => ({ version: index + 1, verifierKey })) }))).toEqual(expected);
    expect(ids(`# auditstream's keys\n${keys[0]}\n\n  ${keys[1]}  \n`)).toEqual(expected);
    expect(() => parseVerifierKeys('not a key')).toThrow(/not a verifier key/);
  });

  it('keeps every key version verifying after a rotation, the newest signing', () => {
    let versions = `1:${randomBytes(32).toString('base64')}`;
    const keys = new SigningKeys('auditstream', () => versions);
    const first = keys.current();
    versions += `,2:${randomBytes(32).toString('base64')}`;
    keys.reload();
    expect(keys.current().keyId).not.toBe(first.keyId);
    expect(keys.publicKeys().map((key) => [key.version, key.current])).toEqual([[2, true], [1, false]]);
    const verifiers = keys.publicKeys().map((key) => parseVerifierKey(key.verifierKey));
    expect(openNote(signNote('old\n', first), verifiers)).toMatchObject({ text: 'old\n' });
  });
});

// ---- a destination's stream as the worker makes it, built from the same pieces ----

const tenantId = 'tenant-verify';
const service = { type: 'service', id: 'auditstream', name: 'auditstream' };
const at = new Date('2026-12-04T10:00:00Z');
const event = (id: string, sequence: number, destinationId: string): AuditEvent => ({
  id,
  occurredAt: at,
  receivedAt: at,
  action: 'user.login',
  outcome: 'success',
  actor: { type: 'user', id: `u-${id}` },
  stream: { destinationId, sequence },
});

interface Built {
  records: Record<string, unknown>[];
  stream: StreamState;
}

/**
 * `plan`: per checkpoint, events sent (a number) or dropped (`{ dropped: n }`), in order. Each
 * event's record is what the webhook receiver stores; each checkpoint's record is sent after it.
 */
function buildStream(destinationId: string, signer: NoteSigner, plan: (number | { dropped: number })[][], encode = encodeWebhookEvent): Built {
  const stream = initialStream();
  stream.lastMadeAt = at.getTime();
  const records: Record<string, unknown>[] = [];
  const target = { tenantId, format: undefined, settings: {} };
  for (const parts of plan) {
    for (const part of parts) {
      if (typeof part !== 'number') {
        streamDropped(stream, part.dropped);
        continue;
      }
      for (let i = 0; i < part; i++) {
        const encoded = encode(event(`e${stream.next}`, stream.next, destinationId), target);
        stream.chain = chainNext(Buffer.from(stream.chain, 'base64'), canonicalDigest(encoded.record)).toString('base64');
        stream.sent++;
        stream.next++;
        records.push(JSON.parse(encoded.record));
      }
    }
    const body = checkpointBodyOf(makeCheckpoint(stream, at.getTime()), tenantId, destinationId);
    const text = checkpointText(body);
    const note = signNote(text, signer);
    records.push(JSON.parse(encode(checkpointEvent(body, note, signer.keyId.toString(16), service), target).record));
    checkpointSent(stream, checkpointHash(text));
  }
  return { records, stream };
}

describe('canonical JSON (RFC 8785)', () => {
  it('is what the canonicalize package (a reference implementation) writes, for records, numbers and key orders', () => {
    const values: object[] = [
      // RFC 8785's own examples: number forms, and keys sorted by UTF-16 code units.
      { numbers: [333333333.33333329, 1e30, 4.5, 2e-3, 0.000000000000000000000000001], string: '€$\u000f\nA\'B"\\\\"/', literals: [null, true, false] },
      { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' },
      { b: { z: 1, a: [{ y: 2, x: -0 }, 'x', 1e21, 1e-7] }, a: undefined, c: 'ok' },
      toWireEventLike(),
    ];
    for (const value of values) expect(canonicalJson(value)).toBe(canonicalize(value));
  });
});

describe('what each provider sends as an event', () => {
  it('is its record’s canonical JSON, written into the request as it is: the text the checkpoint chains is the text sent', () => {
    const sample = { ...event('e1', 7, 'dst_x'), metadata: { zeta: 1, alpha: { nested: [3, 2, 1], 'key with space': 'v' } } };
    const now = new Date();
    for (const format of [undefined, 'ocsf'] as const) {
      const target = { tenantId, format, settings: { index: 'audit' } };
      const sent = [
        encodeWebhookEvent(sample, target),
        encodeCloudWatchEvent(sample, target),
        encodeSplunkEvent(sample, target),
        encodeElasticEvent(sample, target),
        encodeDatadogEvent(sample, target, now),
      ];
      for (const { record, bytes } of sent) {
        expect(record).toBe(canonicalize(JSON.parse(record)));
        const body = bytes.toString('utf8');
        // Datadog carries the record as its `message` string; the others as JSON, as it is.
        expect(body.includes(record) || JSON.parse(body).message === record).toBe(true);
      }
      // Splunk's envelope is JSON still, its event the record.
      expect(JSON.parse(sent[2].bytes.toString('utf8')).event).toEqual(JSON.parse(sent[2].record));
    }
  });
});

function toWireEventLike(): object {
  return JSON.parse(encodeWebhookEvent({ ...event('e1', 7, 'dst_x'), metadata: { zeta: 1, alpha: { nested: [3, 2, 1], 'key with space': 'v' } } }, { tenantId }).record);
}

describe('checkpoints and the verifier', () => {
  const signer = signerOf('auditstream', randomBytes(32));
  const verifiers = [parseVerifierKey(verifierKeyOf(signer))];
  const dst = 'dst_verifyaaaa';
  const intact = () => buildStream(dst, signer, [[5], [3], [4]]).records;
  const checkpointRecords = (records: Record<string, unknown>[]) => records.filter((r) => r.action === 'auditstream.checkpoint');
  const withoutCheckpoint = (records: Record<string, unknown>[], n: number) => records.filter((r) => r.id !== `auditstream-checkpoint-${dst}-${n}`);

  it('reads back the checkpoint text it writes, and chains checkpoints by hash', () => {
    const stream = initialStream();
    streamDropped(stream, 2);
    stream.next += 3;
    stream.sent = 3;
    const body = checkpointBodyOf(makeCheckpoint(stream, at.getTime()), tenantId, dst);
    expect(parseCheckpointText(checkpointText(body))).toEqual(body);
    expect(body).toMatchObject({ n: 1, first: 1, last: 5, count: 3, dropped: [{ lo: 1, hi: 2 }] });
    checkpointSent(stream, checkpointHash(checkpointText(body)));
    expect(makeCheckpoint(stream, at.getTime())).toMatchObject({ n: 2, first: 6, last: 5, count: 0, previous: checkpointHash(checkpointText(body)) });
  });

  it('says complete for an intact stream, and counts resent records as duplicates', () => {
    const records = intact();
    expect(verifyRecords(records, verifiers)).toMatchObject({ verdict: 'complete', destinations: [{ destinationId: dst, eventsChecked: 12, checkpoints: { verified: 3, first: 1, last: 3 }, gaps: [], duplicates: 0 }] });
    const resent = [...records, records[0], records[7]];
    expect(verifyRecords(resent, verifiers)).toMatchObject({ verdict: 'complete', destinations: [{ duplicates: 2 }] });
    // A backfill's replay carries no sequence: counted apart, the verdict unchanged.
    const { stream, ...plain } = event('e1', 1, dst);
    const replay = encodeWebhookEvent({ ...plain, replayOf: 'bf_1' }, { tenantId }).record;
    expect(stream).toBeDefined();
    expect(verifyRecords([...records, JSON.parse(replay)], verifiers)).toMatchObject({ verdict: 'complete', replays: 1, otherRecords: 0 });
  });

  it('names a removed event as a gap', () => {
    const records = intact().filter((r) => r.id !== 'e7');
    expect(verifyRecords(records, verifiers)).toMatchObject({ verdict: 'incomplete', destinations: [{ gaps: [{ lo: 7, hi: 7 }] }] });
  });

  it('finds an altered event', () => {
    const records = intact();
    const victim = records.find((r) => r.id === 'e3')!;
    victim.outcome = 'failure';
    const report = verifyRecords(records, verifiers);
    expect(report.verdict).toBe('invalid');
    expect(report.destinations[0].altered).toEqual([expect.stringMatching(/^sequence 1–5: the records do not hash to checkpoint 1/)]);
    // Another copy of it, different from the first, is an alteration too, not a duplicate.
    const copies = [...intact(), { ...intact()[0], action: 'user.logout' }];
    expect(verifyRecords(copies, verifiers).destinations[0].altered).toEqual(['sequence 1: two different records carry it']);
  });

  it('finds events reordered within the sequence', () => {
    const records = intact();
    const [a, b] = [records[0], records[1]];
    [(a.stream as { sequence: number }).sequence, (b.stream as { sequence: number }).sequence] = [2, 1];
    expect(verifyRecords(records, verifiers)).toMatchObject({ verdict: 'invalid', destinations: [{ altered: [expect.stringMatching(/checkpoint 1/)] }] });
  });

  it('refuses a forged signature and a checkpoint signed by a key it does not trust', () => {
    const forged = intact();
    const checkpoint = checkpointRecords(forged)[1];
    const meta = (checkpoint.metadata as { checkpoint: { note: string } }).checkpoint;
    meta.note = meta.note.replace('events 3 ', 'events 2 ');
    expect(verifyRecords(forged, verifiers)).toMatchObject({ verdict: 'invalid', destinations: [{ invalidCheckpoints: [expect.stringMatching(/does not verify/)] }] });

    const otherKey = signerOf('auditstream', randomBytes(32));
    const mixed = [...withoutCheckpoint(intact(), 2), ...checkpointRecords(buildStream(dst, otherKey, [[5], [3], [4]]).records).slice(1, 2)];
    const report = verifyRecords(mixed, verifiers);
    expect(report.verdict).toBe('invalid');
    expect(report.destinations[0].invalidCheckpoints).toEqual([expect.stringMatching(/signed by no known key/)]);
    expect(report.destinations[0].missingCheckpoints).toEqual([{ lo: 2, hi: 2 }]);
  });

  it('names a removed checkpoint, and one put in its place from another destination', () => {
    expect(verifyRecords(withoutCheckpoint(intact(), 2), verifiers)).toMatchObject({ verdict: 'incomplete', destinations: [{ missingCheckpoints: [{ lo: 2, hi: 2 }] }] });
    const other = buildStream('dst_verifybbbb', signer, [[5], [3], [4]]).records;
    const swapped = [...withoutCheckpoint(intact(), 2), checkpointRecords(other)[1]];
    const report = verifyRecords(swapped, verifiers);
    expect(report.verdict).toBe('incomplete');
    const mine = report.destinations.find((d) => d.destinationId === dst)!;
    expect(mine.missingCheckpoints).toEqual([{ lo: 2, hi: 2 }]);
    // The other destination's checkpoint covers events this file does not hold: they are its gaps.
    expect(report.destinations.find((d) => d.destinationId === 'dst_verifybbbb')!.gaps).toEqual([{ lo: 6, hi: 8 }]);
  });

  it('refuses a chain put together out of order', () => {
    // Checkpoint 3 made as if checkpoint 2 had never been sent: validly signed, but out of chain.
    const stream = initialStream();
    stream.next = 9;
    stream.from = 6;
    stream.made = 2;
    stream.previous = checkpointHash('something else\n');
    const body = checkpointBodyOf(makeCheckpoint(stream, at.getTime()), tenantId, dst);
    const note = signNote(checkpointText(body), signer);
    const records = [...withoutCheckpoint(intact(), 3), JSON.parse(encodeWebhookEvent(checkpointEvent(body, note, 'x', service), { tenantId }).record)];
    const report = verifyRecords(records, verifiers);
    expect(report.verdict).toBe('invalid');
    expect(report.destinations[0].invalidCheckpoints).toEqual(
      expect.arrayContaining([expect.stringMatching(/checkpoint 3: does not name checkpoint 2/), expect.stringMatching(/checkpoint 3: starts at sequence 6, not after checkpoint 2's last \(8\)/)]),
    );
  });

  it('tells dropped and reported ranges from lost ones', () => {
    const built = buildStream(dst, signer, [[3, { dropped: 4 }, 2], [{ dropped: 1 }], [5]]);
    expect(verifyRecords(built.records, verifiers)).toMatchObject({ verdict: 'dropped-reported', destinations: [{ dropped: [{ lo: 4, hi: 7 }, { lo: 10, hi: 10 }], gaps: [] }] });
    const lost = built.records.filter((r) => r.id !== 'e12');
    expect(verifyRecords(lost, verifiers)).toMatchObject({ verdict: 'incomplete', destinations: [{ gaps: [{ lo: 12, hi: 12 }] }] });
  });

  it('reads each receiver’s export format: webhook deliveries, Elasticsearch, Splunk, CloudWatch', () => {
    const records = intact();
    const webhook = [{ deliveryId: 'dlv_1', events: records.slice(0, 7) }, { deliveryId: 'dlv_2', events: records.slice(7) }].map((body) => JSON.stringify(body)).join('\n');
    const splunk = records.map((record) => JSON.stringify({ preview: false, result: { _raw: JSON.stringify(record), sourcetype: 'audit:event' } })).join('\n');
    const cloudwatch = JSON.stringify({ events: records.map((record, i) => ({ timestamp: i, message: JSON.stringify(record) })), nextForwardToken: 'f/1' });
    const elasticRecords = buildStream(dst, signer, [[5], [3], [4]], encodeElasticEvent as never).records;
    const elastic = JSON.stringify({ took: 1, hits: { total: { value: elasticRecords.length }, hits: elasticRecords.map((doc, i) => ({ _index: 'x', _id: `${i}`, _source: doc })) } });
    for (const text of [webhook, splunk, cloudwatch, elastic]) {
      expect(verifyRecords(readStoredRecords(text), verifiers)).toMatchObject({ verdict: 'complete', destinations: [{ eventsChecked: 12 }] });
    }
  });

  it('keeps ranges in order and joins those that touch', () => {
    const list: { lo: number; hi: number }[] = [];
    addRange(list, 1, 2);
    addRange(list, 3, 3);
    addRange(list, 5, 6);
    addRange(list, 8, 7);
    expect(list).toEqual([{ lo: 1, hi: 3 }, { lo: 5, hi: 6 }]);
  });
});
