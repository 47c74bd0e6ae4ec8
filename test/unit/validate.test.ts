// Input validation of events and JSON bodies, the pieces no protocol test can reach: what
// protobuf's decoding leaves of a `__proto__` key, and the raw JSON check before it.
import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { parseJson } from '../../src/api/json-body.js';
import { parseEvent } from '../../src/api/validate.js';
import { AuditEventSchema } from '../../src/gen/auditstream/v1/events_pb.js';

describe('event metadata', () => {
  it('refuses an object whose prototype protobuf set from a "__proto__" key (binary protocols)', () => {
    const polluted = Object.setPrototypeOf({ kept: 1 }, { polluted: true });
    const message = create(AuditEventSchema, { action: 'user.login', metadata: { nested: polluted } });
    expect(() => parseEvent(message, 'event', new Date())).toThrow('event.metadata.nested has a key "__proto__", which is reserved; rename it');
  });

  it('refuses a lone UTF-16 surrogate anywhere in an event (it is not text, and cannot be hashed canonically), and keeps a pair', () => {
    const lone = '\ud800x';
    for (const [message, field] of [
      [create(AuditEventSchema, { action: 'user.login', metadata: { note: lone } }), 'event.metadata.note'],
      [create(AuditEventSchema, { action: 'user.login', metadata: { [lone]: 1 } }), 'event.metadata key'],
      [create(AuditEventSchema, { action: 'user.login', actor: { name: lone } }), 'event.actor.name'],
      [create(AuditEventSchema, { action: lone }), 'event.action'],
    ] as const) {
      expect(() => parseEvent(message, 'event', new Date())).toThrow(`${field} holds a lone UTF-16 surrogate, which is not Unicode text; send valid UTF-8`);
    }
    expect(parseEvent(create(AuditEventSchema, { action: 'user.login', actor: { name: 'ok 😀' } }), 'event', new Date()).actor).toEqual({ name: 'ok 😀' });
  });

  it('keeps ordinary metadata as given', () => {
    const message = create(AuditEventSchema, { action: 'user.login', metadata: { nested: { a: [1, { b: 'c' }] } } });
    expect(parseEvent(message, 'event', new Date()).metadata).toEqual({ nested: { a: [1, { b: 'c' }] } });
  });
});

describe('JSON bodies', () => {
  it('refuses a "__proto__" key at any depth, and reads everything else', () => {
    expect(() => parseJson(Buffer.from('{"a":{"b":[{"__proto__":1}]}}'))).toThrow('request body has a key "__proto__", which is reserved; rename it');
    expect(parseJson(Buffer.from('{"a":{"proto":1}}'))).toEqual({ a: { proto: 1 } });
    expect(parseJson(Buffer.from('  '))).toEqual({});
    expect(() => parseJson(Buffer.from('{"a":'))).toThrow('request body is not valid JSON');
  });
});
