// The link proxy against a local echo server: forwards in order, delays, drops and blackholes.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { LinkProxy } from './proxy.js';
import { waitFor } from '../../libs/testing/src/wait.js';

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

/**
 * Sends `text` through the proxy one byte per write; resolves with what came back and how it
 * ended, once `done` holds (bounded).
 */
async function roundTrip(
  proxy: LinkProxy,
  text: string,
  done: (r: { got: string; closed: boolean }) => boolean,
) {
  const s = connect(proxy.port, '127.0.0.1');
  const r = { got: '', closed: false, firstByte: -1 };
  s.on('data', (b) => (r.got += b.toString()));
  s.on('error', () => undefined);
  s.on('close', () => (r.closed = true));
  const start = performance.now();
  s.once('data', () => (r.firstByte = performance.now() - start));
  for (const ch of text) s.write(ch);
  try {
    await waitFor(`the round trip of ${JSON.stringify(text)}`, () => done(r), 5_000);
  } finally {
    s.destroy();
  }
  return r;
}

/** Everything sent came back, or the connection closed first. */
const echoed = (text: string) => (r: { got: string; closed: boolean }) =>
  r.got.length >= text.length || r.closed;

describe('link proxy', () => {
  let proxy: LinkProxy;
  beforeEach(async () => {
    proxy = new LinkProxy('a', 'b', echoPort);
    await proxy.start();
  });
  afterEach(() => proxy.stop());

  test('forwards both ways, in order', async () => {
    expect((await roundTrip(proxy, 'abcdef', echoed('abcdef'))).got).toBe('abcdef');
  });

  test('delays every chunk, keeping the order', async () => {
    proxy.set('pass', 100);
    const r = await roundTrip(proxy, 'abcdef', echoed('abcdef'));
    expect(r.got).toBe('abcdef');
    expect(r.firstByte).toBeGreaterThanOrEqual(190); // there and back
  });

  test('drop resets connections and refuses new ones, until healed', async () => {
    proxy.set('drop');
    const r = await roundTrip(proxy, 'abc', (x) => x.closed);
    expect(r).toMatchObject({ got: '', closed: true });
    proxy.set('pass');
    expect((await roundTrip(proxy, 'abc', echoed('abc'))).got).toBe('abc');
  });

  test('blackhole swallows bytes silently; healing closes the tainted connection', async () => {
    const s = connect(proxy.port, '127.0.0.1');
    let got = '';
    let closed = false;
    s.on('data', (b) => (got += b.toString()));
    s.on('error', () => undefined);
    s.on('close', () => (closed = true));
    try {
      await new Promise((r) => s.once('connect', r));
      proxy.set('blackhole');
      s.write('lost');
      // Silence is the subject: the proxy takes the bytes in and passes none of them on (so
      // nothing can come back), and the connection stays open. The proxy marks the connection
      // as it switches, so the bytes cannot get through later either.
      await waitFor('the proxy to swallow the 4 bytes', () => proxy.swallowed >= 4, 5_000);
      expect({ got, closed, swallowed: proxy.swallowed }).toEqual({
        got: '',
        closed: false,
        swallowed: 4,
      });
      proxy.set('pass');
      await waitFor('the tainted connection to close', () => closed, 5_000);
      expect(got).toBe('');
    } finally {
      s.destroy();
    }
    expect((await roundTrip(proxy, 'fresh', echoed('fresh'))).got).toBe('fresh');
  });
});
