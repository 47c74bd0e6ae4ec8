// How many Temporal history events a destination's workflow writes per 1,000 delivered
// events, at steady publish rates. Read from the workflows' histories, not estimated.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { create } from '@bufbuild/protobuf';
import { AuditEventSchema } from '../src/gen/auditstream/v1/events_pb.js';
import { startWebhookReceiver } from '../test/support/receiver.js';
import { historyEventCount, publishAtRate, type BenchStack } from './harness.js';

export interface TemporalCostRow {
  rate: number;
  seconds: number;
  delivered: number;
  historyEvents: number;
  perThousand: number;
}

export async function measureTemporalCost(bench: BenchStack, rates = [10, 100, 1000], seconds = 10): Promise<TemporalCostRow[]> {
  const rows: TemporalCostRow[] = [];
  for (const rate of rates) {
    const tenant = `bench-cost-${rate}-${randomUUID().slice(0, 6)}`;
    const { key } = await bench.service.keys.issue(tenant, 'bench');
    const receiver = await startWebhookReceiver(bench.pki, 'bench-secret');
    const created = await fetch(`${bench.service.httpUrl}/v1/audit/siem`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: JSON.stringify({ provider: 'webhook', endpoint: receiver.url, secret: 'bench-secret' }),
    }).then((r) => r.json());
    const id = created.destination.id as string;
    const client = bench.events(key);
    await publishAtRate(rate, seconds, (i) =>
      client.publishEvent({ event: create(AuditEventSchema, { id: `e-${i}`, action: 'bench.cost', actor: { id: `u-${i % 50}` } }) }),
    );
    const expected = Math.round(rate * seconds);
    await receiver.waitForEvents(expected, 120_000);
    await sleep(1_000); // let the last workflow task settle into history
    const historyEvents = await historyEventCount(bench.temporal, `destination-${id}`);
    rows.push({ rate, seconds, delivered: expected, historyEvents, perThousand: (historyEvents / expected) * 1000 });
    await receiver.close();
  }
  return rows;
}
