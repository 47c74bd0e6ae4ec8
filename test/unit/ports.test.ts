// Start-up survives a port race: a port found free can be taken before the server binds it.
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startOnFreePorts } from '../../src/stack/local.js';

const servers: Server[] = [];
const occupy = (port: number) =>
  new Promise<void>((resolve) => {
    const server = createServer();
    servers.push(server);
    server.listen(port, '127.0.0.1', resolve);
  });
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

describe('starting on free ports', () => {
  it('starts again on other ports when one it picked was taken before the server bound it', async () => {
    const tried: number[][] = [];
    const { ports, started } = await startOnFreePorts([undefined, undefined], async (picked) => {
      tried.push(picked);
      if (tried.length === 1) {
        await occupy(picked[1]); // someone else binds it first
        throw new Error(`listen tcp 127.0.0.1:${picked[1]}: bind: address already in use`);
      }
      return 'up';
    });
    expect(started).toBe('up');
    expect(tried).toHaveLength(2);
    expect(ports).toEqual(tried[1]);
    expect(ports[1]).not.toBe(tried[0][1]);
  });

  it('takes the preferred port when it is free, and passes on a failure that is not a race', async () => {
    const first = await startOnFreePorts([undefined], async ([port]) => port);
    const preferred = first.ports[0];
    expect((await startOnFreePorts([preferred], async ([port]) => port)).ports).toEqual([preferred]);
    let calls = 0;
    await expect(
      startOnFreePorts([undefined], async () => {
        calls++;
        throw new Error('the binary is missing');
      }),
    ).rejects.toThrow('the binary is missing');
    expect(calls).toBe(1);
  });
});
