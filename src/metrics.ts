// Prometheus metrics (prom-client), one registry per process: what the on-call engineer
// alerts on — delivery outcomes, lag, backlog, and the least time left before buffered
// events are dropped. Labels are bounded: provider, status, outcome class; never a tenant or
// destination id. Counters count in the process that did the work (the API ingests, the
// worker delivers); the destination gauges are read from MongoDB's mirror at each scrape.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { destinationStatuses } from './model.js';
import type { DeliveryCounters } from './model.js';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

export const eventsIngested = new Counter({
  name: 'auditstream_events_ingested_total',
  help: 'Audit events accepted and stored (duplicates of an accepted id are not counted).',
  registers: [registry],
});

export const ingestFlushes = new Counter({
  name: 'auditstream_ingest_flushes_total',
  help: 'Group commits of accepted events (events per flush = ingested / flushes: how well concurrent publishes are grouped).',
  registers: [registry],
});

const outcomeCounter = (what: keyof DeliveryCounters, help: string) =>
  new Counter({ name: `auditstream_events_${what}_total`, help, labelNames: ['provider'] as const, registers: [registry] });

export const eventCounters: Record<keyof DeliveryCounters, Counter<'provider'>> = {
  delivered: outcomeCounter('delivered', 'Events a destination confirmed, each counted once.'),
  dropped: outcomeCounter('dropped', 'Buffered events dropped: the retry window ran out, or a deleted destination could not flush them.'),
  rejected: outcomeCounter('rejected', 'Events a destination refused for good (recorded with the reason).'),
};

export const deliveryRequests = new Counter({
  name: 'auditstream_delivery_requests_total',
  help: 'Requests to destinations, by how the answer was classified: ok, partial, split, retry, config, unconfirmed.',
  labelNames: ['provider', 'outcome'] as const,
  registers: [registry],
});

export const deliveryRequestDuration = new Histogram({
  name: 'auditstream_delivery_request_duration_seconds',
  help: 'Time for a destination to answer one request.',
  labelNames: ['provider'] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const deliveryLag = new Histogram({
  name: 'auditstream_delivery_lag_seconds',
  help: 'From an event being accepted to a destination confirming it.',
  labelNames: ['provider'] as const,
  buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400],
  registers: [registry],
});

/** What the destination gauges are computed from: each destination's mirrored state. */
export interface DestinationGaugeSource {
  provider: string;
  status: string;
  enabled: boolean;
  backlogEvents: number;
  oldestEventAt?: Date;
  windowEndsAt?: Date;
}

/**
 * Whether the API reaches what delivery needs, from its last probe (src/api/dependencies.ts):
 * while one is 0, the destination gauges below show the workflows' last record, not the
 * delivery paused meanwhile (Get and List show that).
 */
export function registerDependencyGauge(down: () => string[]): void {
  new Gauge({
    name: 'auditstream_dependency_up',
    help: 'Whether the API reaches the store, Temporal and a delivery worker (1) or not (0), as of its last probe (every 2 s).',
    labelNames: ['dependency'] as const,
    registers: [registry],
    collect() {
      const unreachable = new Set(down());
      for (const dependency of ['store', 'temporal', 'worker']) this.set({ dependency }, unreachable.has(dependency) ? 0 : 1);
    },
  });
}

/**
 * Registers the gauges read from MongoDB at each scrape (in the API process, which answers
 * Get and List from the same mirror). `read` returns every destination's mirrored state.
 */
export function registerDestinationGauges(read: () => Promise<DestinationGaugeSource[]>): void {
  // One read per scrape: the gauges are collected together, each starting with this call.
  let current: Promise<DestinationGaugeSource[]> | undefined;
  const sources = () => (current ??= read().finally(() => (current = undefined)));
  new Gauge({
    name: 'auditstream_destinations',
    help: 'Destinations by status (disabled ones as "disabled").',
    labelNames: ['provider', 'status'] as const,
    registers: [registry],
    async collect() {
      const destinations = await sources();
      this.reset();
      for (const provider of new Set(destinations.map((d) => d.provider))) {
        for (const status of [...destinationStatuses, 'disabled']) this.set({ provider, status }, 0);
      }
      for (const d of destinations) this.inc({ provider: d.provider, status: d.enabled ? d.status : 'disabled' });
    },
  });
  /** A gauge per provider: each destination's value (undefined: left out), combined over the provider's destinations. */
  const perProvider = (name: string, help: string, valueOf: (d: DestinationGaugeSource, now: number) => number | undefined, combine: (a: number, b: number) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['provider'] as const,
      registers: [registry],
      async collect() {
        const destinations = await sources();
        this.reset();
        const now = Date.now();
        const byProvider = new Map<string, number>();
        for (const d of destinations) {
          const value = valueOf(d, now);
          if (value === undefined) continue;
          const seen = byProvider.get(d.provider);
          byProvider.set(d.provider, seen === undefined ? value : combine(seen, value));
        }
        for (const [provider, value] of byProvider) this.set({ provider }, value);
      },
    });
  perProvider('auditstream_backlog_events', 'Events accepted and not yet delivered, dropped or rejected, summed over destinations.', (d) => d.backlogEvents, (a, b) => a + b);
  perProvider(
    'auditstream_backlog_oldest_event_age_seconds',
    'Age of the oldest event still waiting for any destination (0 when nothing waits).',
    (d, now) => (d.oldestEventAt && d.backlogEvents > 0 ? (now - d.oldestEventAt.getTime()) / 1000 : 0),
    Math.max,
  );
  perProvider(
    'auditstream_retry_window_remaining_seconds',
    'Least time left before a failing destination drops its buffered events; absent while none is failing.',
    (d, now) => (d.windowEndsAt && d.status === 'degraded' ? Math.max(0, (d.windowEndsAt.getTime() - now) / 1000) : undefined),
    Math.min,
  );
}
