// The client-pause fault end to end (the built code: npm run build first). The paused client
// must decide on its late write before it tells the harness of its grant: the harness stops it
// the moment it hears, and a client that looked at its lease after waking would see it expired
// and write nothing, which leaves the pause inconclusive.
import { QuorumLockClient } from '@quorumlock/client';
import { check, DEFAULT_CHECK } from './checker/index.js';
import { ChaosCluster } from './cluster.js';
import { FencedStore, Recorder } from './history.js';
import { PausedClient } from './paused-client.js';
import { RecordedClient } from './recorded-client.js';

describe('client pause: a stopped lock holder writes late and is refused', () => {
  const cluster = new ChaosCluster(['n1', 'n2', 'n3']);
  const rec = new Recorder();
  let sdk: QuorumLockClient;
  let paused: PausedClient;
  beforeAll(async () => {
    await cluster.start();
    const endpoints = cluster.endpoints();
    sdk = new QuorumLockClient({ endpoints, callTimeoutMs: 5000, attemptTimeoutMs: 1500 });
    paused = new PausedClient(
      rec,
      new FencedStore(rec),
      endpoints,
      new RecordedClient(rec, sdk, 'PR'),
    );
    paused.start();
  }, 60_000);
  afterAll(async () => {
    await paused?.stop();
    await sdk?.close({ release: false });
    await cluster.stop();
  });

  test('every pause is conclusive: the late write comes and the store refuses it', async () => {
    for (let i = 0; i < 3; i++) {
      const p = await paused.scenario(3000);
      expect(typeof p?.paused).toBe('number');
      expect(p?.lateWrite).toMatchObject({ accepted: false });
      expect(p!.validForMs).toBeGreaterThan(0);
      expect(p!.probeToken).toBeGreaterThan(p!.token!);
    }
    const r = check(rec.history(meta), DEFAULT_CHECK);
    expect(r.violations).toEqual([]);
    expect(r.figures.clientPauses).toEqual({ total: 3, conclusive: 3, lateWritesRejected: 3 });
  }, 60_000);
});

const meta = {
  seed: 0,
  nodes: 3,
  clients: 1,
  durationMs: 0,
  electionTimeoutMaxMs: 300,
  checkpointIntervalMs: 1000,
  startedAt: '',
  replay: '',
};
