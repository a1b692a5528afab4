import { SimNetwork, SimWorld } from './index.js';

function setup(seed = 1) {
  const w = new SimWorld(seed);
  const net = new SimNetwork(w, { minDelayMs: 1, maxDelayMs: 10 });
  const a = w.spawn('a');
  const b = w.spawn('b');
  const c = w.spawn('c');
  return { w, net, a, b, c };
}

describe('SimNetwork', () => {
  test('delivers after a delay within the policy, reordering messages', async () => {
    const { w, net, a } = setup();
    const got: { i: number; at: number }[] = [];
    for (let i = 0; i < 50; i++)
      expect(net.send(a, 'b', () => got.push({ i, at: w.now }))).toBe('sent');
    await w.run(100);
    expect(got).toHaveLength(50);
    for (const g of got) expect(g.at).toBeGreaterThanOrEqual(1);
    for (const g of got) expect(g.at).toBeLessThanOrEqual(10);
    expect(got.map((g) => g.i)).not.toEqual([...Array(50).keys()]);
    expect(net.stats).toMatchObject({ sent: 50, delivered: 50, dropped: 0 });
  });

  test('drops and duplicates at the policy rates', async () => {
    const { w, net, a } = setup();
    net.policy = { ...net.policy, dropRate: 0.3, dupRate: 0.2 };
    let delivered = 0;
    for (let i = 0; i < 2000; i++) net.send(a, 'b', () => delivered++);
    await w.run(100);
    // Each message: 1 or 2 copies (20 %), each lost with 30 %: 0.7 * 1.2 = 0.84 per message.
    expect(delivered / 2000).toBeGreaterThan(0.78);
    expect(delivered / 2000).toBeLessThan(0.9);
    expect(net.stats.duplicated).toBeGreaterThan(200);
  });

  test('blocked links lose messages at send and in flight, one way only', async () => {
    const { w, net, a, b } = setup();
    const got: string[] = [];
    net.block('a', 'b');
    expect(net.send(a, 'b', () => got.push('a>b'))).toBe('blocked');
    expect(net.send(b, 'a', () => got.push('b>a'))).toBe('sent');
    await w.run(20);
    expect(got).toEqual(['b>a']);
    net.heal();
    net.send(a, 'b', () => got.push('cut in flight'));
    net.partition(['a'], ['b', 'c']);
    expect(net.blockedLinks()).toEqual(['a>b', 'a>c', 'b>a', 'c>a']);
    await w.run(100);
    expect(got).toEqual(['b>a']);
    net.heal();
    net.isolate('c');
    expect(net.blockedLinks()).toEqual(['a>c', 'b>c', 'c>a', 'c>b']);
  });

  test('a message is bound to the receiving incarnation: lost if it dies in flight', async () => {
    const { w, net, a, b } = setup();
    const got: string[] = [];
    net.send(a, 'b', () => got.push('to old b'));
    b.crash();
    expect(net.send(a, 'b', () => got.push('to dead b'))).toBe('down');
    const b2 = w.spawn('b');
    net.send(a, 'b', () => got.push('to new b'));
    await w.run(100);
    expect(got).toEqual(['to new b']);
    expect(b2.incarnation).toBe(2);
    expect(net.send(a, 'nobody', () => {})).toBe('down');
  });

  test('delivery to a frozen host waits for the thaw', async () => {
    const { w, net, a, b } = setup();
    let at = -1;
    b.freeze(50);
    net.send(a, 'b', () => (at = w.now));
    await w.run(100);
    expect(at).toBe(50);
  });

  test('ports: post() reaches the listener of the receiving incarnation only', async () => {
    const { w, net, a, b } = setup();
    const got: string[] = [];
    const close = net.listen<string>(b, 'rpc', (m) => got.push(m));
    expect(net.post(a, 'b', 'rpc', 'one')).toBe('sent');
    expect(net.post(a, 'b', 'other', 'nobody listens')).toBe('down');
    await w.run(20);
    close();
    expect(net.post(a, 'b', 'rpc', 'closed')).toBe('down');
    net.listen<string>(b, 'rpc', (m) => got.push(m));
    b.crash();
    const b2 = w.spawn('b');
    expect(net.post(a, 'b', 'rpc', 'port died with the process')).toBe('down');
    net.listen<string>(b2, 'rpc', (m) => got.push(`new ${m}`));
    net.post(a, 'b', 'rpc', 'two');
    await w.run(40);
    expect(got).toEqual(['one', 'new two']);
  });

  test('a latency tail delivers some messages long after later ones', async () => {
    const { w, net, a } = setup();
    net.policy = { ...net.policy, minDelayMs: 1, maxDelayMs: 2, tailRate: 0.1, tailDelayMs: 300 };
    const at: number[] = [];
    for (let i = 0; i < 500; i++) net.send(a, 'b', () => at.push(w.now));
    await w.run(1000);
    const late = at.filter((t) => t > 2).length;
    expect(late).toBeGreaterThan(25);
    expect(late).toBeLessThan(75);
    expect(Math.max(...at)).toBeGreaterThan(100);
    expect(Math.max(...at)).toBeLessThanOrEqual(302);
  });

  test('a slow link delays big messages more', async () => {
    const { w, net, a } = setup();
    net.policy = { ...net.policy, minDelayMs: 1, maxDelayMs: 1, msPerByte: 0.01 };
    let at = 0;
    net.send(a, 'b', () => (at = w.now), 1000);
    await w.run(100);
    expect(at).toBeCloseTo(11, 6);
  });
});
