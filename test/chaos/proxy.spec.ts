// The link proxy against a local echo server: forwards in order, delays, drops and blackholes.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { LinkProxy } from './proxy.js';

let echo: Server;
let echoPort = 0;
const sockets = new Set<Socket>();

beforeAll(async () => {
  echo = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((ok) => echo.listen(0, '127.0.0.1', () => ok()));
  echoPort = (echo.address() as { port: number }).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((ok) => echo.close(() => ok()));
});

/** Sends `text` through the proxy; resolves with what came back within waitMs and how it ended. */
async function roundTrip(proxy: LinkProxy, text: string, waitMs = 300) {
  const s = connect(proxy.port, '127.0.0.1');
  let got = '';
  let closed = false;
  s.on('data', (b) => (got += b.toString()));
  s.on('error', () => undefined);
  s.on('close', () => (closed = true));
  const start = performance.now();
  let firstByte = -1;
  s.once('data', () => (firstByte = performance.now() - start));
  for (const ch of text) s.write(ch);
  await new Promise((r) => setTimeout(r, waitMs));
  s.destroy();
  return { got, closed, firstByte };
}

describe('link proxy', () => {
  let proxy: LinkProxy;
  beforeEach(async () => {
    proxy = new LinkProxy('a', 'b', echoPort);
    await proxy.start();
  });
  afterEach(() => proxy.stop());

  test('forwards both ways, in order', async () => {
    expect((await roundTrip(proxy, 'abcdef')).got).toBe('abcdef');
  });

  test('delays every chunk, keeping the order', async () => {
    proxy.set('pass', 100);
    const r = await roundTrip(proxy, 'abcdef', 400);
    expect(r.got).toBe('abcdef');
    expect(r.firstByte).toBeGreaterThanOrEqual(190); // there and back
  });

  test('drop resets connections and refuses new ones, until healed', async () => {
    proxy.set('drop');
    const r = await roundTrip(proxy, 'abc');
    expect(r).toMatchObject({ got: '', closed: true });
    proxy.set('pass');
    expect((await roundTrip(proxy, 'abc')).got).toBe('abc');
  });

  test('blackhole swallows bytes silently; healing closes the tainted connection', async () => {
    const s = connect(proxy.port, '127.0.0.1');
    let got = '';
    let closed = false;
    s.on('data', (b) => (got += b.toString()));
    s.on('error', () => undefined);
    s.on('close', () => (closed = true));
    await new Promise((r) => s.once('connect', r));
    proxy.set('blackhole');
    s.write('lost');
    await new Promise((r) => setTimeout(r, 200));
    expect({ got, closed }).toEqual({ got: '', closed: false });
    proxy.set('pass');
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(true);
    s.destroy();
    expect((await roundTrip(proxy, 'fresh')).got).toBe('fresh');
  });
});
