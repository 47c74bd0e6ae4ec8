// What Get and List say about a destination's delivery while a part it depends on is
// unreachable. The workflow alone writes its destination's status (its mirror in
// delivery_states), and it cannot while Temporal, every worker or the store is out of reach:
// its mirror would go on saying "active" over events that wait. So the API derives the status
// when it reads, writing nothing: a destination that is owed events while a dependency is down
// is shown `degraded`, with what is unreachable as the reason and its backlog counted from
// what the audit log buffers for it — the workflow's last record plus every event the tenant
// had accepted since (its head sequence past the highest seq the record knows).
import type { DeliveryStateDoc } from '../store/mongo.js';
import type { DeliveryView } from '../store/destinations.js';

export type Dependency = 'store' | 'temporal' | 'worker';

/** A dependency found unreachable, since when (ms), and why. */
export interface Outage {
  dependency: Dependency;
  since: number;
  reason: string;
}

const described: Record<Dependency, string> = {
  store: 'the store (MongoDB) is unreachable',
  temporal: 'Temporal is unreachable',
  worker: 'no delivery worker is running',
};

export function describeOutage(outage: Outage): string {
  return `${described[outage.dependency]} (${outage.reason})`;
}

/** Events a destination is owed: its workflow's last record of them, and those accepted since. */
export interface Owed {
  events: number;
  oldestAt?: Date;
}

/**
 * `head`: the tenant's last sequence number handed out; `dispatched`: whether every new event
 * of the tenant goes to this destination — not so for a filtered one, which is owed only those
 * its filters let through, unknown without reading them: it counts its record alone. Without a
 * record, nothing is known of it yet.
 */
export function owedOf(state: DeliveryStateDoc | null, head: number | undefined, dispatched: boolean): Owed {
  if (!state) return { events: 0 };
  const known = Math.max(-Infinity, ...state.pending.map((range) => range.hi), ...state.settled.map((interval) => interval.hi));
  const since = dispatched && head !== undefined && Number.isFinite(known) ? Math.max(0, head - known) : 0;
  const oldestAt = state.backlog.oldestEventAt ?? (since > 0 ? state.recordedAt : undefined);
  return { events: state.backlog.events + since, oldestAt };
}

/**
 * The delivery Get and List show: the workflow's record, or — while a dependency is down and
 * the destination is owed events it would otherwise be sending — `degraded`, saying why.
 * A disabled, failed or already degraded destination keeps its own status and reason.
 */
export function viewDuringOutage(view: DeliveryView, owed: Owed, outages: Outage[], enabled: boolean): DeliveryView {
  const [outage] = outages;
  if (!outage || !enabled || view.status !== 'active' || owed.events === 0) return view;
  return {
    ...view,
    status: 'degraded',
    statusReason:
      `delivery is paused: ${describeOutage(outage)} since ${new Date(outage.since).toISOString()}; ` +
      `the ${owed.events} events waiting are kept and sent once it is back`,
    backlog: { ...view.backlog, events: owed.events, oldestEventAt: owed.oldestAt },
  };
}
