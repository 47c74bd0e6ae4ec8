// What the API's answers depend on — the store, Temporal and a running delivery worker —
// probed every 2 s, each probe cut off after 1.5 s. /readyz answers from the last round at
// once (it never waits on a dependency that does not answer), and Get/List use the same
// outages to say that delivery is paused and why (src/api/delivery-status.ts).
import { errorMessage } from '../log.js';
import type { Dependency, Outage } from './delivery-status.js';

export interface DependencyProbes {
  store: () => Promise<void>;
  temporal: () => Promise<void>;
  /** Only asked while the store answers: workers are seen through it. */
  worker: () => Promise<void>;
}

export interface MonitorOptions {
  intervalMs: number;
  timeoutMs: number;
}

function withTimeout(probe: () => Promise<void>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  return Promise.race([probe(), timeout]).finally(() => clearTimeout(timer));
}

export class DependencyMonitor {
  private readonly outages = new Map<Dependency, Outage>();
  private timer?: NodeJS.Timeout;
  private round?: Promise<void>;

  constructor(
    private readonly probes: DependencyProbes,
    private readonly options: MonitorOptions = { intervalMs: 2_000, timeoutMs: 1_500 },
  ) {}

  /** Probes once (so the first answers are known), then every interval. */
  async start(): Promise<void> {
    await this.probe();
    this.timer = setInterval(() => void this.probe(), this.options.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The dependencies unreachable at the last probe, the store first (without it nothing else can be seen). */
  current(): Outage[] {
    return (['store', 'temporal', 'worker'] as const).flatMap((dependency) => this.outages.get(dependency) ?? []);
  }

  private probe(): Promise<void> {
    // A round still running (a probe at its timeout) is not started twice.
    this.round ??= this.probeAll().finally(() => (this.round = undefined));
    return this.round;
  }

  private async probeAll(): Promise<void> {
    const check = async (dependency: Dependency) => {
      try {
        await withTimeout(this.probes[dependency], this.options.timeoutMs);
        this.outages.delete(dependency);
      } catch (error) {
        const since = this.outages.get(dependency)?.since ?? Date.now();
        this.outages.set(dependency, { dependency, since, reason: errorMessage(error) });
      }
    };
    await Promise.all([check('store'), check('temporal')]);
    if (!this.outages.has('store')) await check('worker');
  }
}
