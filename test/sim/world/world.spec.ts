import { SimFailure, SimWorld } from './index.js';

describe('SimWorld', () => {
  test('runs events in time order, ties in insertion order, and stops at untilMs', async () => {
    const w = new SimWorld(1);
    const log: string[] = [];
    w.schedule(5, () => log.push('b'));
    w.schedule(1, () => log.push('a'));
    w.schedule(5, () => log.push('c'));
    w.schedule(20, () => log.push('late'));
    w.schedule(5, () => w.schedule(0, () => log.push('d')));
    expect(await w.run(10)).toBe(false);
    expect(log).toEqual(['a', 'b', 'c', 'd']);
    expect(w.now).toBe(10);
    await w.run(30);
    expect(log.at(-1)).toBe('late');
  });

  test('every promise continuation of an event runs before the next event', async () => {
    const w = new SimWorld(1);
    const log: string[] = [];
    w.schedule(1, () => {
      void (async () => {
        // A deep chain, as an async driver loop makes: it must finish within its own event.
        for (let i = 0; i < 200; i++) await Promise.resolve();
        await Promise.all([1, 2].map(async () => await Promise.resolve()));
        log.push('chain done');
      })();
    });
    w.schedule(1, () => log.push('next event'));
    await w.run(2);
    expect(log).toEqual(['chain done', 'next event']);
  });

  test('stop() ends the run after the event that satisfied it', async () => {
    const w = new SimWorld(1);
    let n = 0;
    for (let i = 1; i <= 10; i++) w.schedule(i, () => n++);
    expect(await w.run(100, () => n === 3)).toBe(true);
    expect(w.now).toBe(3);
  });

  test('a failure inside an event or a continuation rejects run() with the time', async () => {
    const w = new SimWorld(1);
    w.schedule(2, () => {
      void Promise.resolve().then(() => w.fail(new Error('broken invariant')));
    });
    w.schedule(3, () => {
      throw new Error('never reached');
    });
    await expect(w.run(10)).rejects.toThrow(SimFailure);
    expect(w.failed?.message).toMatch(/^at 2\.000 ms: .*broken invariant/);
    const w2 = new SimWorld(1);
    w2.schedule(1, () => {
      throw new Error('thrown');
    });
    await expect(w2.run(10)).rejects.toThrow(/thrown/);
  });

  test('run() may not be entered twice at once', async () => {
    const w = new SimWorld(1);
    w.schedule(1, () => {});
    const first = w.run(5);
    await expect(w.run(5)).rejects.toThrow(/already running/);
    await first;
    await expect(w.run(10)).resolves.toBe(false);
  });

  test('a runaway timer loop fails after maxEvents instead of hanging', async () => {
    const w = new SimWorld(1, { maxEvents: 1000 });
    const loop = () => w.schedule(0, loop);
    loop();
    await expect(w.run(1)).rejects.toThrow(/more than 1000 events/);
  });

  test('the seed decides every draw, and traces carry the time', async () => {
    const draws = (seed: number) => {
      const w = new SimWorld(seed);
      return [
        w.rand(),
        w.int(0, 100),
        w.between(1, 2),
        w.pick(['a', 'b', 'c']),
        w.shuffle([1, 2, 3, 4]),
      ];
    };
    expect(draws(7)).toEqual(draws(7));
    expect(draws(7)).not.toEqual(draws(8));
    const lines: string[] = [];
    const w = new SimWorld(1, { trace: (l) => lines.push(l) });
    w.schedule(1.5, () => w.trace('hello'));
    w.schedule(2, () => w.trace(() => 'lazy'));
    await w.run(3);
    expect(lines).toEqual(['1.500 hello', '2.000 lazy']);
    expect(new SimWorld(1).tracing).toBe(false);
  });
});

describe('SimHost', () => {
  test('has its own clock, running at its rate from an arbitrary offset', async () => {
    const w = new SimWorld(3, { clockDrift: 0.01 });
    const a = w.spawn('a');
    const b = w.spawn('b');
    expect(Math.abs(a.rate - 1)).toBeLessThanOrEqual(0.01);
    expect(a.rate).not.toBe(b.rate);
    const a0 = a.now();
    await w.run(1000);
    expect(a.now() - a0).toBeCloseTo(1000 * a.rate, 6);
    // after(ms) is in local ms: it fires when the local clock has moved by ms.
    const t0 = a.now();
    let firedAt = 0;
    a.after(100, () => (firedAt = a.now()));
    await w.run(2000);
    expect(firedAt - t0).toBeCloseTo(100, 6);
  });

  test('soon() runs after what is already pending at this time; cancel() prevents a timer', async () => {
    const w = new SimWorld(1);
    const h = w.spawn('h');
    const log: string[] = [];
    w.schedule(0, () => log.push('pending'));
    h.soon(() => log.push('soon'));
    h.after(5, () => log.push('cancelled')).cancel();
    await w.run(10);
    expect(log).toEqual(['pending', 'soon']);
  });

  test('a freeze holds callbacks until it ends, in the order they came due; the clock runs on', async () => {
    const w = new SimWorld(1);
    const h = w.spawn('h');
    const log: string[] = [];
    h.after(10, () => log.push(`t10@${w.now.toFixed(0)}`));
    h.after(20, () => log.push(`t20@${w.now.toFixed(0)}`));
    w.schedule(5, () => h.freeze(100));
    w.schedule(50, () => h.run(() => log.push('delivery')));
    w.schedule(60, () => log.push(`frozen=${h.frozen}`));
    const before = h.now();
    await w.run(104);
    expect(log).toEqual(['frozen=true']);
    await w.run(200);
    expect(log).toEqual(['frozen=true', 't10@105', 't20@105', 'delivery']);
    expect(h.now() - before).toBeCloseTo(200 * h.rate, 6);
  });

  test('a crashed incarnation never runs again; a restart is a new incarnation', async () => {
    const w = new SimWorld(1);
    const h1 = w.spawn('h');
    const log: string[] = [];
    let hookRan = false;
    h1.onCrash(() => (hookRan = true));
    h1.after(10, () => log.push('old timer'));
    w.schedule(5, () => h1.freeze(20));
    w.schedule(6, () => h1.run(() => log.push('held')));
    w.schedule(7, () => h1.crash());
    await w.run(50);
    expect(log).toEqual([]);
    expect(hookRan).toBe(true);
    expect(() => w.spawn('h')).not.toThrow();
    const h2 = w.host('h')!;
    expect(h2.incarnation).toBe(2);
    expect(h2).not.toBe(h1);
    expect(() => w.spawn('h')).toThrow(/still running/);
    h1.soon(() => log.push('old soon'));
    h2.soon(() => log.push('new soon'));
    await w.run(60);
    expect(log).toEqual(['new soon']);
  });

  test('an exception in a host callback fails the run', async () => {
    const w = new SimWorld(1);
    const h = w.spawn('h');
    h.after(1, () => {
      throw new Error('bug in the code under test');
    });
    await expect(w.run(5)).rejects.toThrow(/bug in the code under test/);
  });
});
