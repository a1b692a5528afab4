// /healthz, /readyz and /metrics on the HTTP server, with a scripted LockApi behind them.
import { type TestServer, startTestServer } from './fixtures/fake-api.js';

let server: TestServer;

beforeEach(async () => {
  server = await startTestServer();
});

afterEach(async () => {
  await server.close();
});

const get = async (path: string) => {
  const res = await fetch(`${server.httpBase}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
};

describe('HTTP probes', () => {
  it('/healthz answers 200 whether or not the node serves', async () => {
    expect((await get('/healthz')).status).toBe(200);
    server.fake.serving = false;
    expect((await get('/healthz')).status).toBe(200);
  });

  it('/readyz follows isServing()', async () => {
    expect(await get('/readyz')).toMatchObject({ status: 200, body: 'ready\n' });
    server.fake.serving = false;
    expect(await get('/readyz')).toMatchObject({ status: 503, body: 'not serving\n' });
    server.fake.serving = true;
    expect((await get('/readyz')).status).toBe(200);
  });

  it('/readyz turns 503 as soon as the server drains, while /healthz stays 200', async () => {
    server.app.drain();
    expect((await get('/readyz')).status).toBe(503);
    expect((await get('/healthz')).status).toBe(200);
  });

  it('/metrics answers with the Prometheus text format', async () => {
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toBe('');
  });

  it('answers 404 elsewhere', async () => {
    expect((await get('/nope')).status).toBe(404);
  });
});
