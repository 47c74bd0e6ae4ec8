// Destinations: a configuration document per destination, written only by the API process
// that leads the store (src/ingest/lease.ts; the others forward such calls to it), one change
// at a time per destination, and a delivery-state document per destination, written by its
// workflow only (the workflow's mirror) — one writer per document, as FerretDB's
// read-modify-write updates need. Even a key rotation is the leader's: the admin command asks it. Every
// read for an API caller names the tenant, and another tenant's destination is treated
// exactly like a missing one.
import { randomBytes } from 'node:crypto';
import type { ProviderName } from '../providers/index.js';
import { credentialFields, type Credentials, type DeliveryTarget, type ProviderSettings } from '../providers/provider.js';
import type { DestinationGaugeSource } from '../metrics.js';
import type { CredentialCipher } from './crypto.js';
import { KeyedMutex } from '../keyed-mutex.js';
import { maskSecret } from '../providers/secrets.js';
import type { Collections, DeliveryStateDoc, DestinationDoc } from './mongo.js';
import type { SubscriptionFilter } from '../subscription/filter.js';
import type { MaskRule } from '../subscription/masking.js';
import type { DestinationFormat } from '../subscription/ocsf.js';
import type { Interval } from '../../workflows/ranges.js';
import type { DestinationSnapshot, DestinationState, StateRecord } from '../../workflows/state.js';
import { initialStream } from '../completeness/stream.js';

export interface NewDestination {
  name: string;
  provider: ProviderName;
  endpoint: string;
  enabled: boolean;
  settings: ProviderSettings;
  credentials: Credentials;
  /** Which of the tenant's events it receives (absent or empty: all). */
  filters?: SubscriptionFilter[];
  masking?: MaskRule[];
  format?: DestinationFormat;
}

export interface DestinationChanges {
  name?: string;
  endpoint?: string;
  enabled?: boolean;
  settings?: ProviderSettings;
  filters?: SubscriptionFilter[];
  masking?: MaskRule[];
  format?: DestinationFormat;
  /** The credential fields given; the others keep their value (see `update`). */
  credentials?: Credentials;
}

/** What Get and List show of a destination's delivery: its workflow's mirror, or the workflow's fresher answer. */
export type DeliveryView = Pick<DeliveryStateDoc, 'status' | 'statusReason' | 'backlog' | 'counters' | 'lastDeliveredAt' | 'lastErrorAt'>;

/** A destination that has recorded nothing yet: active, nothing sent. */
export const initialDelivery: DeliveryView = {
  status: 'active',
  statusReason: '',
  backlog: { events: 0 },
  counters: { delivered: 0, dropped: 0, rejected: 0 },
};

const date = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms));

/** A workflow's snapshot (epoch-millisecond times) as Get and List show it. */
export function deliveryViewOf(view: DestinationSnapshot): DeliveryView {
  return {
    status: view.status,
    statusReason: view.statusReason,
    backlog: { events: view.backlogEvents, oldestEventAt: date(view.oldestEventAt), windowEndsAt: date(view.windowEndsAt) },
    counters: { delivered: view.delivered, dropped: view.dropped, rejected: view.rejected },
    lastDeliveredAt: date(view.lastDeliveredAt),
    lastErrorAt: date(view.lastErrorAt),
  };
}

/** The mirror document of a workflow's state. */
export function deliveryStateDocOf(destinationId: string, tenantId: string, record: StateRecord): DeliveryStateDoc {
  return {
    _id: destinationId,
    tenantId,
    ...deliveryViewOf(record),
    failingSince: date(record.failingSince),
    pending: record.pending.map((range) => ({ ...range, at: new Date(range.at) })),
    settled: record.settled.map(([lo, hi]) => ({ lo, hi })),
    ...(record.knownChunk === undefined ? {} : { knownChunk: record.knownChunk }),
    stream: record.stream,
    recordedAt: new Date(),
  };
}

/** What a workflow starting afresh takes from its mirror: everything but the policy (the service's configuration). */
export function stateOfMirror(doc: DeliveryStateDoc): Omit<DestinationState, 'enabled' | 'policy'> {
  return {
    status: doc.status,
    statusReason: doc.statusReason,
    counts: { ...doc.counters },
    failingSince: doc.failingSince?.getTime(),
    lastDeliveredAt: doc.lastDeliveredAt?.getTime(),
    lastErrorAt: doc.lastErrorAt?.getTime(),
    failures: doc.status === 'degraded' ? 1 : 0,
    awaitingUpdate: false,
    pending: doc.pending.map((range) => ({ ...range, at: range.at.getTime() })),
    settled: doc.settled.map(({ lo, hi }): Interval => [lo, hi]),
    knownChunk: doc.knownChunk,
    stream: doc.stream ?? initialStream(),
  };
}

const idAlphabet = 'abcdefghijkmnpqrstuvwxyz23456789';

export function newDestinationId(): string {
  const bytes = randomBytes(20);
  let id = 'dst_';
  for (const byte of bytes) id += idAlphabet[byte % idAlphabet.length];
  return id;
}


function hintsOf(credentials: Credentials): Record<string, string> {
  const hints: Record<string, string> = {};
  for (const field of credentialFields) {
    const value = credentials[field];
    if (value) hints[field] = maskSecret(value);
  }
  return hints;
}

export class DestinationStore {
  /** Changes of one configuration, one at a time (FerretDB would lose one of two at once). */
  private readonly changing = new KeyedMutex();

  constructor(
    private readonly collections: Collections,
    private readonly cipher: CredentialCipher,
  ) {}

  private sealCredentials(tenantId: string, id: string, credentials: Credentials) {
    return this.cipher.seal(JSON.stringify(credentials), `${tenantId}/${id}`);
  }

  private openCredentials(doc: DestinationDoc): Credentials {
    return JSON.parse(this.cipher.open(doc.credentials, `${doc.tenantId}/${doc._id}`)) as Credentials;
  }

  /** The previous credentials are sealed to their own slot: a ciphertext moved into the current one does not open. */
  private fallbackData(doc: Pick<DestinationDoc, 'tenantId' | '_id'>): string {
    return `${doc.tenantId}/${doc._id}/previous`;
  }

  async create(tenantId: string, input: NewDestination): Promise<DestinationDoc> {
    const id = newDestinationId();
    const now = new Date();
    const doc: DestinationDoc = {
      _id: id,
      tenantId,
      name: input.name,
      provider: input.provider,
      endpoint: input.endpoint,
      enabled: input.enabled,
      settings: input.settings,
      ...(input.filters?.length ? { filters: input.filters } : {}),
      ...(input.masking?.length ? { masking: input.masking } : {}),
      ...(input.format && input.format !== 'auditstream' ? { format: input.format } : {}),
      credentials: this.sealCredentials(tenantId, id, input.credentials),
      credentialHints: hintsOf(input.credentials),
      createdAt: now,
      updatedAt: now,
    };
    await this.collections.destinations.insertOne(doc);
    return doc;
  }

  /** The tenant's destination; one being deleted only when `deleting` (a DELETE repeated resumes it). */
  async get(tenantId: string, id: string, options: { deleting?: boolean } = {}): Promise<DestinationDoc | null> {
    const doc = await this.collections.destinations.findOne({ _id: id });
    if (!doc || doc.tenantId !== tenantId || (doc.deletingAt && !options.deleting)) return null;
    return doc;
  }

  /**
   * Deletions begun and not finished (Temporal was unreachable, or the API stopped meanwhile).
   * Reads every configuration on FerretDB: the API asks once, when it starts sweeping.
   */
  deletionsUnderWay(): Promise<DestinationDoc[]> {
    return this.collections.destinations.find({ deletingAt: { $exists: true } }).toArray();
  }

  async list(tenantId: string): Promise<DestinationDoc[]> {
    const docs = await this.collections.destinations.find({ tenantId }).toArray();
    return docs.filter((doc) => !doc.deletingAt).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  /**
   * Writes the changed configuration fields, and only those: the delivery state beside them
   * belongs to the destination's workflow (an update re-enabling a failed destination is the
   * workflow's rule, applied when the API tells it about the update).
   */
  async update(
    existing: DestinationDoc,
    changes: DestinationChanges,
    /** The provider's rule for a change of credentials (the webhook keeps its previous secret for a while). */
    mergeCredentials: (current: Credentials, change: Credentials) => Credentials,
    /** With a change of credentials: keep the previous ones as the fallback until then (the new ones are unproven); without, any fallback is forgotten. */
    keepPreviousUntil?: Date,
  ): Promise<DestinationDoc> {
    const now = new Date();
    const fields: Partial<DestinationDoc> = { updatedAt: now };
    let forgetFallback = false;
    if (changes.name !== undefined) fields.name = changes.name;
    if (changes.endpoint !== undefined) fields.endpoint = changes.endpoint;
    if (changes.enabled !== undefined) fields.enabled = changes.enabled;
    if (changes.settings !== undefined) fields.settings = changes.settings;
    if (changes.filters !== undefined) fields.filters = changes.filters;
    if (changes.masking !== undefined) fields.masking = changes.masking;
    if (changes.format !== undefined) fields.format = changes.format;
    if (changes.credentials !== undefined) {
      const previous = this.openCredentials(existing);
      const merged = mergeCredentials(previous, changes.credentials);
      fields.credentials = this.sealCredentials(existing.tenantId, existing._id, merged);
      fields.credentialHints = hintsOf(merged);
      if (keepPreviousUntil) {
        fields.fallbackCredentials = { sealed: this.cipher.seal(JSON.stringify(previous), this.fallbackData(existing)), since: now, until: keepPreviousUntil };
      } else {
        forgetFallback = existing.fallbackCredentials !== undefined;
      }
    }
    await this.changing.run(existing._id, () =>
      this.collections.destinations.updateOne(
        { _id: existing._id, tenantId: existing.tenantId },
        forgetFallback ? { $set: fields, $unset: { fallbackCredentials: '' } } : { $set: fields },
      ),
    );
    const { fallbackCredentials: _forgotten, ...kept } = existing;
    return { ...(forgetFallback ? kept : existing), ...fields };
  }

  /** Forgets a destination's previous credentials (the new ones were accepted, or their time is over). */
  async forgetFallback(doc: DestinationDoc): Promise<void> {
    await this.changing.run(doc._id, () => this.collections.destinations.updateOne({ _id: doc._id }, { $unset: { fallbackCredentials: '' } }));
  }

  /** Destinations keeping previous credentials: reads every configuration on FerretDB, so the leader asks once, when it starts. */
  withFallbacks(): Promise<DestinationDoc[]> {
    return this.collections.destinations.find({ fallbackCredentials: { $exists: true } }).toArray();
  }

  /** A destination's delivery state as its workflow last mirrored it; nothing before its first mirror. */
  deliveryState(id: string): Promise<DeliveryStateDoc | null> {
    return this.collections.deliveryStates.findOne({ _id: id });
  }

  /** The tenant's destinations, oldest first, each with its delivery as last mirrored. */
  async listWithDelivery(tenantId: string): Promise<(DestinationDoc & { delivery: DeliveryView })[]> {
    const docs = await this.list(tenantId);
    const states = await Promise.all(docs.map((doc) => this.deliveryState(doc._id)));
    return docs.map((doc, index) => ({ ...doc, delivery: states[index] ?? initialDelivery }));
  }

  async markDeleting(doc: DestinationDoc): Promise<void> {
    await this.changing.run(doc._id, () => this.collections.destinations.updateOne({ _id: doc._id }, { $set: { deletingAt: new Date() } }));
  }

  /**
   * Removes a deleted destination: the state its ended workflow left, then its configuration,
   * so that a crash in between leaves the configuration (still marked deleting, finished
   * later) rather than a state without one.
   */
  async remove(doc: DestinationDoc): Promise<void> {
    await this.collections.deliveryStates.deleteOne({ _id: doc._id });
    await this.changing.run(doc._id, () => this.collections.destinations.deleteOne({ _id: doc._id }));
  }

  /** Every destination's mirrored delivery state, for the metrics' gauges (no credentials read). */
  async gaugeSources(): Promise<DestinationGaugeSource[]> {
    const [configs, states] = await Promise.all([
      this.collections.destinations.find({}, { projection: { provider: 1, enabled: 1, deletingAt: 1 } }).toArray(),
      this.collections.deliveryStates.find({}, { projection: { status: 1, backlog: 1 } }).toArray(),
    ]);
    const stateOf = new Map(states.map((state) => [state._id, state]));
    return configs.filter((doc) => !doc.deletingAt).map((doc) => {
      const delivery = stateOf.get(doc._id) ?? initialDelivery;
      return {
        provider: doc.provider,
        status: delivery.status,
        enabled: doc.enabled,
        backlogEvents: delivery.backlog.events,
        oldestEventAt: delivery.backlog.oldestEventAt,
        windowEndsAt: delivery.backlog.windowEndsAt,
      };
    });
  }

  /** A destination whatever its tenant, for the service's own use (never for an API caller). */
  async byId(id: string): Promise<DestinationDoc | null> {
    return this.collections.destinations.findOne({ _id: id });
  }

  /** Credentials of a destination decrypted for a delivery; null once it is deleted. */
  async loadTarget(id: string): Promise<DeliveryTarget | null> {
    const doc = await this.byId(id);
    return doc && this.targetOf(doc);
  }

  /** A configuration already read, as a delivery sees it: its credentials (and any previous ones still kept) decrypted. */
  targetOf(doc: DestinationDoc): DeliveryTarget {
    return {
      id: doc._id,
      tenantId: doc.tenantId,
      provider: doc.provider,
      endpoint: doc.endpoint,
      settings: doc.settings,
      credentials: this.openCredentials(doc),
      ...(doc.fallbackCredentials && doc.fallbackCredentials.until > new Date()
        ? { fallbackCredentials: JSON.parse(this.cipher.open(doc.fallbackCredentials.sealed, this.fallbackData(doc))) as Credentials }
        : {}),
      ...(doc.masking?.length ? { masking: doc.masking } : {}),
      ...(doc.format ? { format: doc.format } : {}),
    };
  }

  /**
   * Re-seals every destination's credentials with the newest key version (key rotation), one
   * configuration at a time under the same rule as any other change. Run by the leading API
   * process when asked (`rotateWhenAsked`), or by the admin command while no API process runs.
   */
  async reencryptAll(): Promise<{ version: number; reencrypted: number; current: number }> {
    this.cipher.refresh();
    let reencrypted = 0;
    let current = 0;
    for (const { _id } of await this.collections.destinations.find({}, { projection: { _id: 1 } }).toArray()) {
      await this.changing.run(_id, async () => {
        const doc = await this.collections.destinations.findOne({ _id });
        if (!doc) return;
        const fallback = doc.fallbackCredentials;
        if (doc.credentials.keyVersion === this.cipher.currentVersion && (!fallback || fallback.sealed.keyVersion === this.cipher.currentVersion)) {
          current++;
          return;
        }
        const sealed = this.sealCredentials(doc.tenantId, doc._id, this.openCredentials(doc));
        const resealedFallback = fallback && { ...fallback, sealed: this.cipher.seal(this.cipher.open(fallback.sealed, this.fallbackData(doc)), this.fallbackData(doc)) };
        await this.collections.destinations.updateOne({ _id }, { $set: { credentials: sealed, ...(resealedFallback ? { fallbackCredentials: resealedFallback } : {}) } });
        reencrypted++;
      });
    }
    return { version: this.cipher.currentVersion, reencrypted, current };
  }

  /** Carries out the rotations the admin command asked for (the leading API process, every second). */
  async rotateWhenAsked(): Promise<void> {
    const asked = await this.collections.keyRotations.find({ finishedAt: { $exists: false } }).toArray();
    if (asked.length === 0) return;
    const result = await this.reencryptAll();
    for (const request of asked) await this.collections.keyRotations.updateOne({ _id: request._id }, { $set: { finishedAt: new Date(), result } });
  }

  /** The destination's workflow mirrors its state (the only writer of these documents). */
  async recordDelivery(doc: DeliveryStateDoc): Promise<void> {
    await this.collections.deliveryStates.replaceOne({ _id: doc._id }, doc, { upsert: true });
  }
}

