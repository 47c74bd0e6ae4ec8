// The Datadog intake and moto, started once for a test file that sends to every provider (the
// HEC collector and Elasticsearch are the suite's own), and stopped after it.
import { afterAll, beforeAll } from 'vitest';
import { closeClients, stack } from './clients.js';
import { startFakeDatadog, type FakeDatadog } from './fakes/datadog.js';
import { startMoto, type Moto } from './fakes/moto.js';

export function vendorFakesOfThisFile(datadogKey: string): { datadog: () => FakeDatadog; moto: () => Moto } {
  let datadog: FakeDatadog;
  let moto: Moto;
  beforeAll(async () => {
    [datadog, moto] = await Promise.all([startFakeDatadog(stack.pki, datadogKey), startMoto(stack.pki, stack.dir)]);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([datadog?.close(), moto?.process.stop()]);
    await closeClients();
  });
  return { datadog: () => datadog, moto: () => moto };
}
