// The checker must catch each property's violation in a hand-made history, and pass valid ones:
// a checker that cannot fail is worthless.
import { H, KEY } from './checker-fixtures.js';
import { check, DEFAULT_CHECK, type Report } from './checker/index.js';

const properties = (r: Report) => [...new Set(r.violations.map((v) => v.property))].sort();
const run = (h: H) => check(h.h, { ...DEFAULT_CHECK, soloKey: 'election:solo' });

describe('chaos checker: valid histories pass', () => {
  test('grants released and re-granted, with reads that see each holder', () => {
    const h = new H();
    h.grant('a', 5, 0, 10);
    h.read('a', 5, 20, 30);
    h.write({ at: 40, token: 5, accepted: true, client: 'a' });
    h.release('a', 50, 60);
    h.refused('a', 45, 55);
    h.grant('b', 9, 55, 70);
    h.read('b', 9, 80, 90);
    h.release('b', 100, 110);
    h.read(null, 0, 120, 130);
    const r = run(h);
    expect(r.violations).toEqual([]);
    expect(r.linearizability.ok).toBe(r.linearizability.checked);
  });

  test('validity runs from the grant request’s SEND time: a slow reply shortens it', () => {
    const h = new H();
    h.grant('a', 5, 0, 900); // replied late: allowed to hold only until 0 + 1000
    h.grant('b', 9, 1005, 1010); // the server expired a's lease after 1000
    h.write({ at: 950, token: 5, accepted: true, client: 'a' });
    h.write({ at: 1020, token: 9, accepted: true, client: 'b' });
    expect(run(h).violations).toEqual([]);
  });

  test('renewals extend validity from their send times; a release cuts it at its send', () => {
    const h = new H();
    h.grant('a', 5, 0, 10);
    h.renew('a', 600, 700); // valid until 1600
    h.release('a', 800, 820);
    h.grant('b', 9, 810, 830);
    h.write({ at: 790, token: 5, accepted: true, client: 'a' });
    h.write({ at: 840, token: 9, accepted: true, client: 'b' });
    expect(run(h).violations).toEqual([]);
  });

  test('a paused client measured by its send times: its late write is refused, no violation', () => {
    const h = new H();
    h.grant('p', 5, 0, 10);
    h.grant('q', 9, 500, 1100);
    h.write({ at: 1150, token: 9, accepted: true, client: 'q' });
    h.write({ at: 3000, token: 5, accepted: false, client: 'p', late: true });
    h.h.pauses.push({
      key: KEY,
      token: 5,
      paused: 11,
      resumed: 2990,
      probeToken: 9,
      lateWrite: { at: 3000, accepted: false },
    });
    const r = run(h);
    expect(r.violations).toEqual([]);
    expect(r.figures.clientPauses).toEqual({ total: 1, conclusive: 1, lateWritesRejected: 1 });
  });

  test('an unacknowledged acquire seen by a read is a grant, not a phantom', () => {
    const h = new H();
    h.op({ kind: 'acquire', owner: 'u', invoke: 0, complete: 50, outcome: 'unknown', ttlMs: 1000 });
    h.read('u', 7, 60, 70);
    expect(run(h).violations).toEqual([]);
  });

  test('a read may show a holder just after its renewal got NOT_FOUND: expiry not committed yet', () => {
    const h = new H();
    h.grant('a', 5, 0, 10);
    h.renew('a', 1100, 1110, 'fail'); // after the floor (1000): the leader decided the expiry
    h.read('a', 5, 1120, 1130);
    const r = run(h);
    expect(r.violations).toEqual([]);
    expect(r.figures.readsAfterNotFound).toEqual({ reads: 1, maxMs: 10 });
  });

  test('Observe: no leader between leaders on the one-candidate election, tokens rising', () => {
    const h = new H();
    const key = 'election:solo';
    h.grant('s1', 3, 0, 5, 1000, key);
    h.release('s1', 100, 110, true, key);
    h.grant('s2', 8, 200, 210, 1000, key);
    h.event({ key, at: 6, kind: 'leader', owner: 's1', token: 3 });
    h.event({ key, at: 111, kind: 'no-leader' });
    h.event({ key, at: 211, kind: 'leader', owner: 's2', token: 8 });
    expect(run(h).violations).toEqual([]);
  });
});

describe('chaos checker: a grant does not cut the previous holder’s window short', () => {
  // Grants are made in token order. The previous lease keeps the lock until its floor (latest
  // confirmed send + TTL) unless its release may have been sent; the next grant is dated at its
  // reply (as late as it can have been made).
  test('a grant made inside the window is flagged, though no validity intervals overlap', () => {
    const h = new H();
    h.grant('a', 5, 0, 900); // granted first (smaller token), reply late: validity [900, 1000]
    h.grant('b', 9, 100, 500); // made by 500, while a's lease could not expire before 1000
    h.release('b', 600, 610);
    const r = run(h);
    expect(properties(r)).toEqual(['regrant-before-floor']);
    expect(r.violations[0]?.message).toMatch(/b \(token 9, op 2\) was granted by 500\.0, while a/);
  });

  test('a grant made after the window passes, whether the floor or a release ended it', () => {
    const h = new H();
    h.grant('a', 5, 0, 900);
    h.grant('b', 9, 100, 1100); // a wait that ended after a's floor (1000)
    h.release('b', 1150, 1160);
    h.grant('c', 12, 1120, 1170, 1000); // c waited; b's release was sent at 1150
    const r = run(h);
    expect(r.violations).toEqual([]);
    expect(r.examined).toMatchObject({ handOvers: 2 });
  });

  test('renewals carry the window: the floor is the latest confirmed send + TTL', () => {
    const h = new H();
    h.grant('a', 5, 0, 10);
    h.renew('a', 700, 1500); // sent at 700: a holds until 1700, though confirmed late
    h.grant('b', 9, 1000, 1600, 1000);
    expect(properties(run(h))).toContain('regrant-before-floor');
  });

  test('a late grant its SDK gave up on holds until the SDK’s release was sent, not from its start', () => {
    // What the recorded client writes when the SDK released a grant that came too late to act
    // on: a release dated at its send (after the reply). Dated at the acquire's start instead,
    // the release would excuse any re-grant during the whole acquire.
    const late = (releaseAt: number) => {
      const h = new H();
      h.grant('a', 5, 0, 900);
      h.release('a', releaseAt, 905, false);
      h.grant('b', 9, 100, 500);
      return run(h);
    };
    expect(properties(late(900))).toEqual(['regrant-before-floor']);
    expect(late(0).violations).toEqual([]);
  });

  test('a grant is dated by the first report naming it when that beats its own reply', () => {
    const h = new H();
    h.grant('a', 5, 0, 900);
    h.grant('b', 9, 100, 1100); // its reply came after a's floor (1000), but a Watch saw it at 500
    h.event({ at: 500, kind: 'acquired', owner: 'b', token: 9, stream: 'sdk-watch-1' });
    expect(properties(run(h))).toEqual(['regrant-before-floor']);
  });

  test('an unacknowledged grant seen by a read holds its lock too', () => {
    const h = new H();
    h.op({ kind: 'acquire', owner: 'u', invoke: 0, complete: 50, outcome: 'unknown', ttlMs: 1000 });
    h.read('u', 7, 60, 70);
    h.grant('b', 9, 100, 200);
    expect(properties(run(h))).toEqual(['regrant-before-floor']);
  });
});

describe('chaos checker: each property’s violation is caught', () => {
  test('two clients allowed to hold at once: mutual exclusion', () => {
    const h = new H();
    h.grant('a', 5, 0, 10);
    h.grant('b', 9, 500, 510); // a's lease could not have expired before 1000
    expect(properties(run(h))).toContain('mutual-exclusion');
  });

  test('a renewal keeps the first holder valid across the second grant', () => {
    const h = new H();
    h.grant('a', 5, 0, 10);
    h.renew('a', 900, 950); // valid until 1900
    h.grant('b', 9, 1500, 1510);
    expect(properties(run(h))).toContain('mutual-exclusion');
  });

  test('a token that goes backwards, and one granted twice', () => {
    const h = new H();
    h.grant('a', 5, 0, 10);
    h.release('a', 20, 30);
    h.grant('b', 4, 40, 50);
    h.release('b', 60, 70);
    h.grant('c', 4, 80, 90);
    const r = run(h);
    expect(properties(r)).toContain('fencing-token');
    expect(r.violations.map((v) => v.message).join('\n')).toMatch(/token 4 granted to/);
  });

  test('the fenced store: stale token accepted, a valid write refused, a write outside validity', () => {
    const h = new H();
    h.grant('a', 5, 0, 10);
    h.release('a', 100, 110);
    h.grant('b', 9, 120, 130);
    h.write({ at: 140, token: 9, accepted: true, client: 'b' });
    h.write({ at: 150, token: 5, accepted: true, client: 'a' }); // after its release: stale
    h.write({ at: 160, token: 9, accepted: false, client: 'b' }); // b valid, yet refused
    const r = run(h);
    expect(properties(r)).toEqual(
      expect.arrayContaining(['client-validity', 'fenced-store', 'mutual-exclusion']),
    );
  });

  test('a paused client’s late write accepted after a newer token was written', () => {
    const h = new H();
    h.grant('p', 5, 0, 10);
    h.grant('q', 9, 500, 1100);
    h.write({ at: 1150, token: 9, accepted: true, client: 'q' });
    h.write({ at: 3000, token: 5, accepted: true, client: 'p', late: true });
    h.h.pauses.push({
      key: KEY,
      token: 5,
      paused: 11,
      resumed: 2990,
      probeToken: 9,
      lateWrite: { at: 3000, accepted: true },
    });
    expect(properties(run(h))).toContain('fenced-store');
  });

  test('an acknowledged grant invisible to a read while its holder may act', () => {
    const h = new H();
    h.grant('a', 5, 0, 10);
    h.read(null, 0, 100, 110);
    expect(properties(run(h))).toEqual(['acknowledged-grant-visible', 'linearizability']);
  });

  test('an acknowledged release undone', () => {
    const h = new H();
    h.grant('a', 5, 0, 10);
    h.release('a', 100, 110);
    h.read('a', 5, 200, 210);
    expect(properties(run(h))).toEqual(['acknowledged-release-kept', 'linearizability']);
  });

  test('a lease lost before its TTL: renewal NOT_FOUND, or Watch reporting it expired', () => {
    const h = new H();
    h.grant('a', 5, 0, 10);
    h.renew('a', 300, 310, 'fail');
    h.event({ at: 400, kind: 'expired', owner: 'a', token: 5, stream: 'sdk-watch-1' });
    const r = run(h);
    expect(properties(r)).toContain('lease-kept-for-ttl');
    expect(r.violations.filter((v) => v.property === 'lease-kept-for-ttl')).toHaveLength(2);
  });

  test('a holder nobody was granted', () => {
    const h = new H();
    h.read('ghost', 3, 0, 10);
    expect(properties(run(h))).toEqual(['no-phantom-holder']);
  });

  test('Observe: an older leader after a newer one, a skipped "no leader", an invented leader', () => {
    const h = new H();
    const key = 'election:solo';
    h.grant('s1', 3, 0, 5, 1000, key);
    h.release('s1', 100, 110, true, key);
    h.grant('s2', 8, 200, 210, 1000, key);
    h.event({ key, at: 6, kind: 'leader', owner: 's1', token: 3 });
    h.event({ key, at: 211, kind: 'leader', owner: 's2', token: 8 });
    h.event({ key, at: 212, kind: 'leader', owner: 's1', token: 3 });
    h.event({ key, at: 213, kind: 'leader', owner: 'nobody', token: 99 });
    expect(properties(run(h))).toEqual([
      'observe-no-leader',
      'observe-order',
      'observe-real-leader',
    ]);
  });

  test('a dead client’s lease outliving TTL + election timeout + checkpoint + slack', () => {
    const key = 'lock:dead/1';
    const h = new H();
    h.grant('d', 5, 0, 10, 1000, key);
    h.read('d', 5, 2000, 2010, key);
    h.read('d', 5, 5000, 5010, key); // bound: 10 + 1000 + 300 + 1000 + 1000 = 3310
    expect(properties(run(h))).toEqual(['dead-lease-expiry']);
    // The same under a partition is not asserted: the bound assumes a working cluster.
    h.h.faults.push({
      id: 1,
      kind: 'partition-halves',
      targets: [],
      detail: '',
      start: 500,
      end: 4000,
      recovered: 4200,
    });
    const r = run(h);
    expect(r.violations).toEqual([]);
    expect(r.figures.deadLeases).toMatchObject({ leases: 1, asserted: 0, skipped: 1 });
  });
});
