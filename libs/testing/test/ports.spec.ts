// Server ports lie below the ephemeral range, so that no outgoing connection or listen(0) can take
// one while its server is down (it then could not restart: EADDRINUSE).
import { createServer } from 'node:net';
import { ephemeralRange, freePort } from '../src/ports.js';

describe('freePort', () => {
  test('gives ports that are free, distinct, and below the ephemeral range', async () => {
    const [lo] = ephemeralRange();
    const ports: number[] = [];
    for (let i = 0; i < 15; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const p of ports) expect(p).toBeLessThan(lo);
    const srv = createServer();
    await new Promise<void>((ok, fail) => {
      srv.once('error', fail);
      srv.listen(ports[0], '127.0.0.1', ok);
    });
    await new Promise((ok) => srv.close(ok));
  });
});
