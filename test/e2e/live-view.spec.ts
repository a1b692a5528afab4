// The gateway on a real 3-node cluster: a follower's JSON-RPC reaches the leader, and the live
// view, in Debian's headless Chromium (driven by puppeteer-core, which downloads nothing), names
// the leader, shows a lock acquired over gRPC and its release, and a new leader once the old one
// is killed. QUORUMLOCK_LIVE_SCREENSHOT=docs/live-view.png saves the page while the lock is held.
import { existsSync } from 'node:fs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { removeTempDir, tempDir } from '../../libs/testing/src/processes.js';
import { waitFor } from '../../libs/testing/src/wait.js';
import { LocalCluster } from '../support/cluster.js';
import { fresh, methods, roles } from '../support/e2e.js';

/** Debian's chromium package; CHROMIUM names another build. */
const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

describe('the gateway and the live view (3-node cluster, headless Chromium)', () => {
  const c = new LocalCluster();
  let browser: Browser;
  let profile: string;
  let page: Page;
  let leader: string;
  let follower: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does)`);
    await c.start();
    ({ leader, follower } = await roles(c));
    profile = tempDir('quorumlock-chromium-');
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir: profile,
      // Root in CI has no user namespace sandbox to give Chromium.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 860 });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (profile) removeTempDir(profile);
    await c.stop();
  });

  const rpc = async (id: string, method: string, params: unknown) => {
    const res = await fetch(`http://${c.node(id).http}/rpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    });
    return (await res.json()) as { result?: Record<string, unknown>; error?: unknown };
  };

  test("a follower's JSON-RPC reaches the leader", async () => {
    const name = fresh('rpc');
    const got = await rpc(follower, 'lock.acquire', { name, owner: 'alice', ttlMs: 5000 });
    expect(got.result).toMatchObject({ acquired: true, holder: 'alice' });
    expect(got.result!['fencingToken']).toMatch(/^\d+$/);
    const held = await methods(c.api(leader)).describe(name);
    expect(held).toMatchObject({ held: true, owner: 'alice' });
    const leaseId = got.result!['leaseId'];
    expect((await rpc(follower, 'lock.release', { leaseId })).result).toEqual({ released: true });
  });

  // Reads of the page, as expressions evaluated in it: this project's types have no DOM.
  const read = (expression: string): Promise<unknown> => page.evaluate(expression);
  const text = async (selector: string) =>
    String(await read(`document.querySelector(${JSON.stringify(selector)})?.textContent ?? ''`));
  const lockRows = async () =>
    (await read(
      "[...document.querySelectorAll('#locks tr')].map((r) => r.textContent)",
    )) as string[];

  test('the page names the leader and shows a lock from acquire to release', async () => {
    await page.goto(`http://${c.node(follower).http}/`);
    await waitFor('the page to name the leader', async () => (await text('#leader')) === leader);
    const nodes = (await read(
      "[...document.querySelectorAll('#nodes li')].map((l) => l.dataset.role)",
    )) as string[];
    expect(nodes.filter((r) => r === 'leader')).toHaveLength(1);

    const name = fresh('live');
    const F = methods(c.api(follower));
    const a = await F.acquire({ name, owner: 'alice', ttl_ms: 30_000 });
    expect(a.acquired).toBe(true);
    const row = await waitFor('the lock on the page', async () =>
      (await lockRows()).find((r) => r.includes(name)),
    );
    expect(row).toContain('alice');
    expect(row).toContain(String(a.fencing_token));
    const shot = process.env['QUORUMLOCK_LIVE_SCREENSHOT'];
    if (shot) await page.screenshot({ path: shot });

    await F.release(a.lease_id);
    await waitFor('the lock to leave the page', async () =>
      (await lockRows()).every((r) => !r.includes(name)),
    );
  });

  test('killing the leader shows the election of a new one', async () => {
    const old = leader;
    await c.kill(old);
    const next = await waitFor('a new leader on the page', async () => {
      const shown = await text('#leader');
      return shown !== old && shown !== 'none' && shown !== 'unknown' && shown;
    });
    expect(c.live()).toContain(next);
    await waitFor('the old leader shown unreachable', async () =>
      read(`document.querySelector('#nodes li[data-node="${old}"]')?.classList.contains('down')`),
    );
  });
});
